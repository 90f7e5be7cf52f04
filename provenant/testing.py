"""
Test helpers for your own test suite: a real local Provenant server and a client bound to it.

Installed as a pytest plugin (entry point ``provenant``), so with ``provenant-sdk``
installed these fixtures are available in any test::

    def test_my_agent_records_a_session(provenant_client):
        with provenant_client.session("My Agent"):
            run_my_agent()
        provenant_client.flush()
        assert len(provenant_client.list_sessions()) == 1

Each test gets its own organisation (a fresh API key) on one server shared by the
whole test run, so tests never see each other's records.

.. versionadded:: 0.1
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Iterator

import pytest

from provenant.client import ProvenantClient

if TYPE_CHECKING:
    from provenant.server import LocalServer

__all__ = ["provenant_api_key", "provenant_client", "provenant_server"]


@pytest.fixture(scope="session")
def provenant_server() -> Iterator[LocalServer]:
    """
    A ``provenant serve`` instance on 127.0.0.1 (ephemeral port) over a temporary store.

    .. versionadded:: 0.1
    """
    from provenant.server import start_server

    with tempfile.TemporaryDirectory(prefix="provenant-test-") as directory:
        server = start_server(db_path=os.path.join(directory, "provenant.db"), port=0)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def provenant_api_key(provenant_server: LocalServer) -> str:
    """
    A fresh API key of a fresh organisation on :func:`provenant_server`.

    .. versionadded:: 0.1
    """
    return provenant_server.create_api_key()


@pytest.fixture
def provenant_client(
    provenant_server: LocalServer, provenant_api_key: str
) -> Iterator[ProvenantClient]:
    """
    A :class:`~provenant.ProvenantClient` bound to :func:`provenant_server` as a fresh org.

    It is shut down (its events flushed) after the test.

    .. versionadded:: 0.1
    """
    client = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        yield client
    finally:
        client.shutdown(timeout=10)
