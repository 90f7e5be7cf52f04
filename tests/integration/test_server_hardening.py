"""`provenant serve` hardened against its own clients: keys, Host names, framing, stalls."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Iterator, Optional

import pytest

from provenant.backends.local import LocalBackend
from provenant.server import LocalServer, start_server

# The key every installation used to accept (the same string everywhere).
_OLD_BUILT_IN_KEY = "pk_live_" + "10ca1" + "0" * 27


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    """A fresh server over a store the embedded client has already recorded into."""
    db = str(tmp_path / "store.db")
    backend = LocalBackend(db)
    backend.request("POST", "/api/agents/get-or-create", body={"name": "Recorded Offline"})
    backend.close()
    with start_server(db, api_keys=["pk_live_" + "ab" * 16]) as running:
        yield running


def exchange(server: LocalServer, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers before closing."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def status_of(answer: bytes) -> int:
    """The status code of the first response in ``answer``."""
    return int(answer.split(b" ", 2)[1])


def get(server: LocalServer, path: str, key: Optional[str], host: str = "127.0.0.1") -> bytes:
    """One raw GET with the given Host header and bearer key."""
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    return exchange(server, request.encode("ascii"))


def test_the_old_built_in_key_is_refused_over_http(server: LocalServer) -> None:
    """The key every installation used to share opens nothing over HTTP, not even old stores."""
    assert status_of(get(server, "/api/agents", _OLD_BUILT_IN_KEY)) == 401
    assert status_of(get(server, "/api/agents", server.api_keys[0])) == 200


def test_a_store_that_registered_the_built_in_key_no_longer_accepts_it(tmp_path: Path) -> None:
    """A store written by an older version (the built-in key in its key table) refuses it too."""
    db = str(tmp_path / "old.db")
    LocalBackend(db).close()
    conn = sqlite3.connect(db)
    with conn:
        import hashlib

        digest = hashlib.sha256(_OLD_BUILT_IN_KEY.encode()).hexdigest()
        conn.execute(
            "INSERT OR IGNORE INTO api_keys (id, user_id, org_id, key_hash, key_prefix, name,"
            " created_at) VALUES ('legacy', '00000000-0000-4000-8000-000000000002',"
            " '00000000-0000-4000-8000-000000000001', ?, '10ca1000', 'local',"
            " '2026-01-01T00:00:00.000Z')",
            (digest,),
        )
    conn.close()
    with start_server(db) as running:
        assert status_of(get(running, "/api/agents", _OLD_BUILT_IN_KEY)) == 401


def test_a_key_for_the_embedded_stores_org_sees_its_records(server: LocalServer) -> None:
    """create_api_key(org_id=LOCAL_ORG_ID) mints a key that reads what the embedded client wrote."""
    from provenant.server import LOCAL_ORG_ID

    key = server.create_api_key(org_id=LOCAL_ORG_ID)
    answer = get(server, "/api/agents", key)
    assert status_of(answer) == 200
    assert b"Recorded Offline" in answer


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:4000", "localhost.evil.example", "127.0.0.1.nip.io"]
)
def test_a_foreign_host_name_is_refused(server: LocalServer, host: str) -> None:
    """A Host naming another site (DNS rebinding) is refused, even with a valid key."""
    answer = get(server, "/api/agents", server.api_keys[0], host=host)
    assert status_of(answer) == 400
    assert b"Host" in answer
    assert status_of(get(server, "/health", None, host=host)) == 400


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:{port}", "localhost", "LOCALHOST:{port}", "[::1]:{port}"]
)
def test_loopback_host_names_are_served(server: LocalServer, host: str) -> None:
    """Loopback names, with or without the port, are served."""
    named = host.format(port=server.port)
    assert status_of(get(server, "/api/agents", server.api_keys[0], host=named)) == 200


def test_a_request_without_host_is_refused(server: LocalServer) -> None:
    """HTTP/1.1 without a Host header is a bad request."""
    request = b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"
    assert status_of(exchange(server, request)) == 400


def test_more_host_names_by_option(tmp_path: Path) -> None:
    """allowed_hosts adds names the server answers to."""
    with start_server(str(tmp_path / "h.db"), allowed_hosts=["provenant.internal"]) as running:
        key = running.api_keys[0]
        assert status_of(get(running, "/api/agents", key, host="provenant.internal:80")) == 200
        assert status_of(get(running, "/api/agents", key, host="other.internal")) == 400


def _writes_take(api_url_key: tuple[LocalServer, str, str], count: int) -> float:
    server, key, session_id = api_url_key
    import http.client
    import json
    import time

    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    body = json.dumps({"role": "USER", "content": "hello"})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    start = time.perf_counter()
    for _ in range(count):
        conn.request("POST", f"/api/sessions/{session_id}/turns", body, headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 201
    took = time.perf_counter() - start
    conn.close()
    return took


@pytest.mark.parametrize("authenticated", [False, True])
def test_a_stalled_client_costs_other_writers_nothing(
    server: LocalServer, authenticated: bool
) -> None:
    """A client that sends a write's headers and stalls announces no write, so nobody waits."""
    import http.client
    import json
    import time

    key = server.api_keys[0]
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request("POST", "/api/agents/get-or-create", json.dumps({"name": "A"}), headers)
    agent = json.loads(conn.getresponse().read())
    conn.request("POST", "/api/sessions", json.dumps({"agentId": agent["id"]}), headers)
    session_id = json.loads(conn.getresponse().read())["id"]
    conn.close()
    writer = (server, key, session_id)
    alone = _writes_take(writer, 20)
    auth = f"Authorization: Bearer {key}\r\n" if authenticated else ""
    with socket.create_connection((server.host, server.port), timeout=10) as staller:
        staller.sendall(
            f"POST /api/sessions/{session_id}/turns HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
        )
        time.sleep(0.3)  # the server has read the headers and waits for the body
        assert server.store._incoming == 0  # no pending-write announcement
        stalled = _writes_take(writer, 20)
        assert server.store._incoming == 0
    # Each write used to wait out the 50 ms grouping window: 20 writes >= 1 s.
    assert stalled < 3 * alone + 0.5, (alone, stalled)


def _change_key(db_path: str, key: str, column: str, value: str) -> None:
    """Change a key's row from another connection, as another process would."""
    import hashlib

    conn = sqlite3.connect(db_path)
    with conn:
        digest = hashlib.sha256(key.encode()).hexdigest()
        conn.execute(f"UPDATE api_keys SET {column} = ? WHERE key_hash = ?", (value, digest))
    conn.close()


def _refused_within(server: LocalServer, key: str, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if status_of(get(server, "/api/agents", key)) == 401:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("column", ["revoked_at", "expires_at"])
def test_a_revoked_or_expired_key_stops_working_within_a_second(
    server: LocalServer, column: str
) -> None:
    """A key revoked or expired in the store (by any process) is refused within a second."""
    key = server.create_api_key()
    assert status_of(get(server, "/api/agents", key)) == 200  # now cached
    _change_key(server.store.db_path, key, column, "2020-01-01T00:00:00.000Z")
    assert _refused_within(server, key, 1.5)


def test_keys_revoke_takes_effect_on_a_running_server(server: LocalServer) -> None:
    """`provenant keys revoke` on the server's store refuses the key at once."""
    from provenant._cli import main

    key = server.create_api_key()
    assert status_of(get(server, "/api/agents", key)) == 200
    assert main(["keys", "revoke", "--db", server.store.db_path, key]) == 0
    assert _refused_within(server, key, 1.5)
    assert main(["keys", "revoke", "--db", server.store.db_path, key]) == 1


def _responses(answer: bytes) -> list[int]:
    """The status codes of every response in a raw answer."""
    import re

    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


_SMUGGLED = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _post(server: LocalServer, headers: str, body: bytes = b"", key: bool = True) -> bytes:
    auth = f"Authorization: Bearer {server.api_keys[0]}\r\n" if key else ""
    head = f"POST /api/agents/get-or-create HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{headers}\r\n"
    return exchange(server, head.encode("latin-1") + body)


@pytest.mark.parametrize(
    "headers",
    [
        "Content-Length: 15\r\nContent-Length: 60\r\n",
        "Content-Length: 15, 60\r\n",
        "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: identity\r\nContent-Length: 15\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Content-Length: +15\r\n",
        "Content-Length: 1_5\r\n",
        "Content-Length: 0x0f\r\n",
        "Content-Length : 15\r\n",
        "Content-Length: 15\r\n folded: continuation\r\n",
    ],
)
def test_doubtful_framing_is_400_and_closes(server: LocalServer, headers: str) -> None:
    """A request whose body length is in doubt is refused and the connection closed unread."""
    body = b'{"name": "abc"}' + _SMUGGLED
    answer = _post(server, headers, body)
    assert _responses(answer) == [400], answer
    assert b"Connection: close" in answer


def test_a_plain_chunked_body_is_411_and_closes(server: LocalServer) -> None:
    """A chunked request body (not supported) is refused with 411 and the connection closed."""
    answer = _post(
        server, "Transfer-Encoding: chunked\r\n", b"f\r\n" + b"x" * 15 + b"\r\n0\r\n\r\n"
    )
    assert _responses(answer) == [411]


@pytest.mark.parametrize("method", ["get", "Get", "G3T"])
def test_a_method_not_in_capitals_is_400(server: LocalServer, method: str) -> None:
    """Methods are case-sensitive: `get` is not GET."""
    request = f"{method} /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    answer = exchange(server, request)
    assert _responses(answer) == [400], answer


def test_well_framed_requests_keep_the_connection(server: LocalServer) -> None:
    """Two well-framed requests on one connection are both answered."""
    body = b'{"name": "abc"}'
    one = (
        f"POST /api/agents/get-or-create HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        f"{server.api_keys[0]}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    answer = exchange(
        server, one + one + b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert _responses(answer) == [201, 200, 200]


def _expect(server: LocalServer, key: Optional[str], length: int, expect: str) -> bytes:
    """Send headers with an Expect header and nothing else; what comes back at once."""
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST /api/agents/get-or-create HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        f"Content-Length: {length}\r\nExpect: {expect}\r\n\r\n"
    )
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(head.encode())
        return sock.recv(65536)


def test_100_continue_comes_only_after_the_key_and_size_are_checked(server: LocalServer) -> None:
    """No 100 Continue to a client without a valid key or with a body over 5 MB."""
    no_key = _expect(server, None, 15, "100-continue")
    assert _responses(no_key) == [401], no_key
    wrong_key = _expect(server, "pk_live_" + "0" * 32, 15, "100-continue")
    assert _responses(wrong_key) == [401], wrong_key
    too_big = _expect(server, server.api_keys[0], 6 * 1024 * 1024, "100-continue")
    assert _responses(too_big) == [413], too_big
    assert _responses(_expect(server, server.api_keys[0], 15, "100-continue")) == [100]
    assert _responses(_expect(server, server.api_keys[0], 15, "something-else")) == [417]


def test_timestamps_before_year_1000_keep_four_digits(server: LocalServer) -> None:
    """An endedAt in year 999 comes back as 0999-..., the contract's (and the spec's) form."""
    import http.client
    import json
    import re

    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    headers = {"Authorization": f"Bearer {server.api_keys[0]}"}
    conn.request("POST", "/api/agents/get-or-create", json.dumps({"name": "Old"}), headers)
    agent = json.loads(conn.getresponse().read())
    conn.request("POST", "/api/sessions", json.dumps({"agentId": agent["id"]}), headers)
    session = json.loads(conn.getresponse().read())
    body = json.dumps({"status": "COMPLETED", "endedAt": "0999-03-04T05:06:07.8+01:00"})
    conn.request("PATCH", f"/api/sessions/{session['id']}", body, headers)
    ended = json.loads(conn.getresponse().read())
    conn.close()
    assert ended["endedAt"] == "0999-03-04T04:06:07.800Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ended["endedAt"])


def test_the_store_is_private_to_its_user(tmp_path: Path) -> None:
    """A new store's folder is created 0700 and its files 0600, whatever the umask allows."""
    import os
    import stat

    folder = tmp_path / "fresh" / ".provenant"
    old = os.umask(0o022)
    try:
        with start_server(str(folder / "provenant.db")) as running:
            assert status_of(get(running, "/api/agents", running.api_keys[0])) == 200
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            for path in folder.iterdir():  # the database, its -wal and -shm
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert (folder / "provenant.db").exists()
    finally:
        os.umask(old)


def _call(
    server: LocalServer, method: str, path: str, body: object = None, key: Optional[str] = None
) -> tuple[int, object]:
    import http.client
    import json

    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    headers = {"Authorization": f"Bearer {server.api_keys[0]}"}
    if key:
        headers["Idempotency-Key"] = key
    conn.request(method, path, None if body is None else json.dumps(body), headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, answer


def _idempotency_bodies(server: LocalServer) -> list[str]:
    conn = sqlite3.connect(server.store.db_path)
    try:
        return [str(row[0]) for row in conn.execute("SELECT body FROM idempotency")]
    finally:
        conn.close()


def test_deleting_a_session_purges_its_idempotency_records(server: LocalServer) -> None:
    """After DELETE, the session's content is gone from the store and a replay cannot return it."""
    status, agent = _call(server, "POST", "/api/agents/get-or-create", {"name": "Bot"})
    status, session = _call(
        server,
        "POST",
        "/api/sessions",
        {"agentId": agent["id"], "metadata": {"m": "meta-77"}},  # type: ignore[index]
        key="create-key",
    )
    path = f"/api/sessions/{session['id']}"  # type: ignore[index]
    turn = {"role": "USER", "content": "the secret is 4711"}
    assert _call(server, "POST", path + "/turns", turn, key="turn-key")[0] == 201
    assert _call(server, "POST", path + "/end", {}, key="end-key")[0] == 200
    assert any("4711" in body for body in _idempotency_bodies(server))
    assert _call(server, "DELETE", path)[0] == 200
    assert not any("4711" in body or "meta-77" in body for body in _idempotency_bodies(server))
    status, answer = _call(server, "POST", path + "/turns", turn, key="turn-key")
    assert status == 404 and "4711" not in str(answer)


def test_idempotency_records_are_purged_after_a_day(server: LocalServer) -> None:
    """A record older than the contract's day is deleted from the store, not only ignored."""
    import time

    assert _call(server, "POST", "/api/agents/get-or-create", {"name": "Old"}, key="aged")[0] == 201
    conn = sqlite3.connect(server.store.db_path)
    with conn:
        conn.execute(
            "UPDATE idempotency SET created_at = ? WHERE key = 'aged'", (time.time() - 90_000,)
        )
    conn.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _call(server, "POST", "/api/agents/get-or-create", {"name": "Old"}, key=str(time.time()))
        conn = sqlite3.connect(server.store.db_path)
        left = conn.execute("SELECT COUNT(*) FROM idempotency WHERE key = 'aged'").fetchone()[0]
        conn.close()
        if left == 0:
            break
        time.sleep(0.2)
    assert left == 0


def test_a_large_list_is_never_held_whole_in_memory(tmp_path: Path) -> None:
    """GET /api/agents of 24 MB of agents peaks far below the answer's size in the server."""
    import http.client
    import json
    import tracemalloc

    description = "d" * (2 * 1024 * 1024)
    with start_server(str(tmp_path / "big.db")) as running:
        key = running.api_keys[0]
        conn = http.client.HTTPConnection(running.host, running.port, timeout=30)
        headers = {"Authorization": f"Bearer {key}"}
        for i in range(12):
            body = json.dumps({"name": f"Big {i}", "description": description})
            conn.request("POST", "/api/agents/get-or-create", body, headers)
            assert conn.getresponse().read()
        tracemalloc.start()
        try:
            request = (
                f"GET /api/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            received = 0
            buffer = bytearray(65536)
            with socket.create_connection((running.host, running.port), timeout=30) as sock:
                sock.sendall(request)
                while True:
                    got = sock.recv_into(buffer)
                    if not got:
                        break
                    received += got
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert received > 24 * 1024 * 1024
        assert peak < 12 * 1024 * 1024, peak
        # The same answer, read whole by a client, is the whole list in order.
        conn.request("GET", "/api/agents", headers=headers)
        response = conn.getresponse()
        agents = json.loads(response.read())
        assert [agent["name"] for agent in agents] == [f"Big {i}" for i in reversed(range(12))]
        assert all(agent["description"] == description for agent in agents)
        conn.request("GET", "/health")  # the connection is still usable (kept alive)
        assert conn.getresponse().status == 200
        conn.close()


def test_a_large_list_reaches_the_sdk_and_http_1_0_clients_whole(tmp_path: Path) -> None:
    """A list sent in pieces arrives whole through ProvenantClient and over HTTP/1.0."""
    import json

    from provenant.client import ProvenantClient

    description = "e" * (200 * 1024)
    with start_server(str(tmp_path / "pieces.db")) as running:
        client = ProvenantClient(base_url=running.url, api_key=running.api_keys[0])
        try:
            for i in range(4):
                client.create_agent(f"Piece {i}", description=description)
            agents = client.list_agents()
            assert [a["name"] for a in agents] == [f"Piece {i}" for i in reversed(range(4))]
            assert client.list_agents()[0]["description"] == description  # same connection
        finally:
            client.shutdown(timeout=5)
        request = f"GET /api/agents HTTP/1.0\r\nAuthorization: Bearer {running.api_keys[0]}\r\n\r\n"
        answer = exchange(running, request.encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower()
    assert len(json.loads(body)) == 4
