"""Fixtures of the server tests: a raw HTTP client of the local server, one org per test."""

from __future__ import annotations

from typing import Iterator

import pytest
from server_http import Api

from provenant.server import LocalServer


@pytest.fixture
def api(provenant_server: LocalServer) -> Iterator[Api]:
    """A raw client of the shared local server, as a fresh org."""
    client = Api(provenant_server.url, provenant_server.create_api_key())
    yield client
    client.close()


@pytest.fixture
def other_api(provenant_server: LocalServer) -> Iterator[Api]:
    """A raw client of the shared local server, as a second fresh org."""
    client = Api(provenant_server.url, provenant_server.create_api_key())
    yield client
    client.close()


@pytest.fixture
def anon_api(provenant_server: LocalServer) -> Iterator[Api]:
    """A raw client of the shared local server without any key."""
    client = Api(provenant_server.url, None)
    yield client
    client.close()
