"""Fixtures of the tracing tests: a client recording into a throwaway embedded store."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest

from provenant.client import ProvenantClient


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    """A fresh embedded store for one test."""
    return "sqlite:///" + os.path.join(str(tmp_path), "provenant.db")


@pytest.fixture
def client(db_url: str) -> Iterator[ProvenantClient]:
    """A client recording into the test's store, default agent "Bot"; shut down after."""
    instance = ProvenantClient(base_url=db_url, agent_id="Bot", exporter_workers=2)
    try:
        yield instance
    finally:
        instance.shutdown(timeout=10)


Sessions = Callable[[], "list[dict[str, Any]]"]


@pytest.fixture
def recorded(db_url: str) -> Iterator[Sessions]:
    """Read every session of the store (oldest first), each with its turns."""
    readers: list[ProvenantClient] = []

    def read() -> list[dict[str, Any]]:
        reader = ProvenantClient(base_url=db_url)
        readers.append(reader)
        listed = reader.list_sessions()
        full = [reader.get_session(item["id"]) for item in listed]
        full.sort(key=lambda s: (s["startedAt"], s["createdAt"]))
        return full

    yield read
    for reader in readers:
        reader.shutdown()
