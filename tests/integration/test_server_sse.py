"""The Server-Sent Events stream of a session's turns."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from provenant.server import LocalServer


def _conn(server: LocalServer) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=20)


def _call(server: LocalServer, key: str, method: str, path: str, body: Any = None) -> Any:
    conn = _conn(server)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request(method, path, None if body is None else json.dumps(body), headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, answer


def test_stream_sends_new_turns_then_the_end_event(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """The stream sends each new turn as a data event, then session.ended, then closes."""
    key = provenant_api_key
    _, agent = _call(provenant_server, key, "POST", "/api/agents/get-or-create", {"name": "S"})
    _, session = _call(provenant_server, key, "POST", "/api/sessions", {"agentId": agent["id"]})
    sid = session["id"]
    conn = _conn(provenant_server)
    conn.request("GET", f"/api/sessions/{sid}/stream", headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.readline() == b": connected\n"  # the stream is open: now write
    assert response.readline() == b"\n"

    def write() -> None:
        for text in ("one", "two", "three"):
            _call(
                provenant_server,
                key,
                "POST",
                f"/api/sessions/{sid}/turns",
                {"role": "USER", "content": text},
            )
        _call(provenant_server, key, "POST", f"/api/sessions/{sid}/end", {})

    writer = threading.Thread(target=write)
    writer.start()
    events = []
    for line in response:
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
    writer.join(10)
    conn.close()
    assert [e["content"] for e in events[:-1]] == ["one", "two", "three"]
    assert all(e["sessionId"] == sid for e in events[:-1])
    assert events[-1] == {"__type": "session.ended", "sessionId": sid}


def test_stream_of_another_orgs_session_is_404(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """Streaming a session outside the key's org answers 404."""
    key = provenant_api_key
    _, agent = _call(provenant_server, key, "POST", "/api/agents/get-or-create", {"name": "S"})
    _, session = _call(provenant_server, key, "POST", "/api/sessions", {"agentId": agent["id"]})
    other = provenant_server.create_api_key()
    conn = _conn(provenant_server)
    conn.request(
        "GET", f"/api/sessions/{session['id']}/stream", headers={"Authorization": f"Bearer {other}"}
    )
    response = conn.getresponse()
    assert response.status == 404
    assert json.loads(response.read()) == {"error": "Session not found"}
    conn.close()
