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
