"""The local server under concurrent keep-alive clients: no turn lost, none reordered."""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

from provenant.server import LocalServer

TURNS = 200
CLIENTS = 8


def _connect(server: LocalServer) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def _post(conn: http.client.HTTPConnection, key: str, path: str, body: Any) -> Any:
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    conn.request("POST", path, json.dumps(body), headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status in (200, 201), (response.status, answer)
    return answer


def _get(conn: http.client.HTTPConnection, key: str, path: str) -> Any:
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    return json.loads(response.read())


def _run_threads(targets: list[threading.Thread]) -> None:
    for thread in targets:
        thread.start()
    for thread in targets:
        thread.join(60)
        assert not thread.is_alive()


def test_eight_clients_each_keep_their_session_complete_and_ordered(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """8 keep-alive clients posting 200 turns each to their own session lose and reorder none."""
    key = provenant_api_key
    conn = _connect(provenant_server)
    agent = _post(conn, key, "/api/agents/get-or-create", {"name": "Load"})
    sessions = [
        _post(conn, key, "/api/sessions", {"agentId": agent["id"]})["id"] for _ in range(CLIENTS)
    ]
    errors: list[BaseException] = []

    def send(session_id: str) -> None:
        try:
            own = _connect(provenant_server)
            for index in range(TURNS):
                _post(
                    own,
                    key,
                    f"/api/sessions/{session_id}/turns",
                    {"role": "USER", "content": str(index)},
                )
            own.close()
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    _run_threads([threading.Thread(target=send, args=(s,)) for s in sessions])
    assert errors == []
    for session_id in sessions:
        turns = _get(conn, key, f"/api/sessions/{session_id}")["turns"]
        assert [t["content"] for t in turns] == [str(i) for i in range(TURNS)]
    conn.close()


def test_eight_threads_into_one_session_keep_each_threads_order(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """8 threads posting into one session lose no turn and keep each thread's own order."""
    key = provenant_api_key
    conn = _connect(provenant_server)
    agent = _post(conn, key, "/api/agents/get-or-create", {"name": "Shared"})
    session_id = _post(conn, key, "/api/sessions", {"agentId": agent["id"]})["id"]
    errors: list[BaseException] = []

    def send(thread_index: int) -> None:
        try:
            own = _connect(provenant_server)
            for index in range(TURNS):
                _post(
                    own,
                    key,
                    f"/api/sessions/{session_id}/turns",
                    {"role": "USER", "content": f"{thread_index}:{index}"},
                )
            own.close()
        except BaseException as exc:
            errors.append(exc)

    _run_threads([threading.Thread(target=send, args=(i,)) for i in range(CLIENTS)])
    assert errors == []
    turns = _get(conn, key, f"/api/sessions/{session_id}")["turns"]
    assert len(turns) == CLIENTS * TURNS
    for thread_index in range(CLIENTS):
        mine = [t["content"] for t in turns if t["content"].startswith(f"{thread_index}:")]
        assert mine == [f"{thread_index}:{i}" for i in range(TURNS)]
    conn.close()
