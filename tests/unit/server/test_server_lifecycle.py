"""start_server / LocalServer: start, keys, and a clean stop."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from server_http import Api

from provenant.server import start_server


def test_start_server_generates_a_key_when_none_given(tmp_path: Path) -> None:
    """Without api_keys the server generates one, and create_api_key() makes another org's key."""
    with start_server(str(tmp_path / "a.db")) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert len(server.api_keys) == 1
        first = Api(server.url, server.api_keys[0])
        second = Api(server.url, server.create_api_key())
        first.agent("Mine")
        assert second.ok("GET", "/api/agents") == []
        first.close()
        second.close()


def test_given_keys_are_separate_orgs(tmp_path: Path) -> None:
    """Each key given to start_server is its own org."""
    keys = ["pk_live_" + "1" * 32, "pk_live_" + "2" * 32]
    with start_server(str(tmp_path / "b.db"), api_keys=keys) as server:
        assert server.api_keys == keys
        one, two = Api(server.url, keys[0]), Api(server.url, keys[1])
        one.agent("Only Mine")
        assert two.ok("GET", "/api/agents") == []
        one.close()
        two.close()


def test_stop_closes_kept_alive_connections(tmp_path: Path) -> None:
    """After stop(), an open keep-alive connection is closed rather than answered with an error."""
    server = start_server(str(tmp_path / "c.db"))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", "/health")
    assert conn.getresponse().read()
    server.stop()
    server.stop()  # idempotent
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/health")
        conn.getresponse()
    conn.close()
