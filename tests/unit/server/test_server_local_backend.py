"""LocalBackend: the embedded store answers and fails exactly like the HTTP server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from provenant.backends.http import HttpBackend
from provenant.backends.local import LocalBackend
from provenant.errors import APIError, ClientClosedError, NotFoundError, ValidationError
from provenant.server import LocalServer


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(str(tmp_path / "nested" / "dir" / "local.db"))
    yield backend
    backend.close()


@pytest.fixture
def remote(provenant_server: LocalServer) -> Iterator[HttpBackend]:
    backend = HttpBackend(provenant_server.url, api_key=provenant_server.create_api_key())
    yield backend
    backend.close()


def _shape(value: Any) -> Any:
    """The keys and value types of an answer, recursively (ids and times differ)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def _scenario(backend: Any) -> list[Any]:
    agent = backend.request("POST", "/api/agents/get-or-create", body={"name": "Twin"})
    session = backend.request("POST", "/api/sessions", body={"agentId": agent["id"]})
    sid = session["id"]
    turn = backend.request(
        "POST",
        f"/api/sessions/{sid}/turns",
        body={"role": "ASSISTANT", "content": {"a": 1}, "latencyMs": 3, "toolCalls": [{"id": "x"}]},
        idempotency_key="k1",
    )
    ended = backend.request("POST", f"/api/sessions/{sid}/end", body={"status": "FAILED"})
    full = backend.request("GET", f"/api/sessions/{sid}")
    listed = backend.request("GET", "/api/sessions", query={"q": "a"})
    return [agent, session, turn, ended, full, listed]


def test_same_answers_as_http(local: LocalBackend, remote: HttpBackend) -> None:
    """Every answer of the embedded store has the shape the HTTP server gives."""
    assert [_shape(a) for a in _scenario(local)] == [_shape(a) for a in _scenario(remote)]


@pytest.mark.parametrize(
    ("method", "path", "body", "error", "status"),
    [
        ("GET", "/api/sessions/missing", None, NotFoundError, 404),
        ("POST", "/api/agents", {"name": 3}, ValidationError, 422),
        ("GET", "/api/nowhere", None, NotFoundError, 404),
    ],
)
def test_same_errors_as_http(
    local: LocalBackend,
    remote: HttpBackend,
    method: str,
    path: str,
    body: Any,
    error: type[APIError],
    status: int,
) -> None:
    """An error from the embedded store has the class, status and body HTTP gives."""
    caught = []
    for backend in (local, remote):
        with pytest.raises(error) as info:
            backend.request(method, path, body=body, retries=0)
        caught.append(info.value)
    assert [type(e) for e in caught] == [type(caught[1])] * 2
    assert caught[0].status_code == caught[1].status_code == status
    assert caught[0].body == caught[1].body


@pytest.mark.parametrize("name", [object(), float("nan"), b"Twin"], ids=["object", "nan", "bytes"])
def test_non_json_body_fails_like_http(local: LocalBackend, remote: HttpBackend, name: Any) -> None:
    """A body JSON cannot hold raises the same TypeError on both backends, before sending."""
    messages = []
    for backend in (local, remote):
        with pytest.raises(TypeError) as caught:
            backend.request("POST", "/api/agents/get-or-create", body={"name": name})
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("POST /api/agents/get-or-create: the body is not JSON: ")


def test_creates_the_directory_and_shares_records(tmp_path: Path) -> None:
    """Two backends on one file (like two processes) see the same org and records."""
    path = tmp_path / "a" / "b" / "p.db"
    first = LocalBackend(str(path))
    second = LocalBackend(str(path))
    try:
        agent = first.request("POST", "/api/agents/get-or-create", body={"name": "Shared"})
        assert path.exists()
        assert [a["id"] for a in second.request("GET", "/api/agents")] == [agent["id"]]
    finally:
        first.close()
        second.close()


def test_another_process_sees_the_same_records(tmp_path: Path) -> None:
    """A record written by another process's embedded store is read back here."""
    path = str(tmp_path / "p.db")
    code = textwrap.dedent(
        f"""
        from provenant.backends.local import LocalBackend
        backend = LocalBackend({path!r})
        backend.request("POST", "/api/agents/get-or-create", body={{"name": "From Child"}})
        backend.close()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    backend = LocalBackend(path)
    try:
        assert [a["name"] for a in backend.request("GET", "/api/agents")] == ["From Child"]
    finally:
        backend.close()


def test_closed_backend_refuses(local: LocalBackend) -> None:
    """A closed backend raises ClientClosedError, and closing twice is fine."""
    local.close()
    local.close()
    with pytest.raises(ClientClosedError):
        local.request("GET", "/api/agents")
