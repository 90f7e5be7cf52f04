"""Fixtures of the integration tests: the fake model provider, instrumented clients, records."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Awaitable, Callable, Iterator, Optional, TypeVar

import pytest
from otel_spans import Spans
from provider_clients import close_opened

from provenant._fake_provider import FakeProvider, start_fake_provider
from provenant.client import ProvenantClient

T = TypeVar("T")


@pytest.fixture(scope="session")
def _fake_provider_server() -> Iterator[FakeProvider]:
    with start_fake_provider() as provider:
        yield provider


@pytest.fixture
def fake_provider(_fake_provider_server: FakeProvider) -> Iterator[FakeProvider]:
    """The fake provider, with an empty script and no recorded requests for this test."""
    _fake_provider_server.reset()
    yield _fake_provider_server
    _fake_provider_server.reset()


@pytest.fixture
def in_memory_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records for a REST API wait in the in-memory queue, not the spool (the mode used
    where no spool can be written): for the tests of that queue and its HTTP exporter."""
    monkeypatch.setenv("PROVENANT_SPOOL", "false")


@pytest.fixture(autouse=True)
def _close_provider_clients() -> Iterator[None]:
    yield
    close_opened()


@pytest.fixture
def spans() -> Iterator[Spans]:
    """An OpenTelemetry provider keeping its spans in memory, shut down after the test."""
    spans = Spans()
    yield spans
    spans.provider.shutdown()


Recorded = Callable[[], "list[dict[str, Any]]"]


@pytest.fixture
def recorded(provenant_client: ProvenantClient) -> Recorded:
    """Flush, then return every session of the test's org with its turns, oldest first."""

    def sessions() -> list[dict[str, Any]]:
        assert provenant_client.flush(10)
        listed = provenant_client.list_sessions()
        full = [provenant_client.get_session(s["id"]) for s in listed]
        return sorted(full, key=lambda s: (s["startedAt"], s["createdAt"]))

    return sessions


def roles(session: dict[str, Any]) -> list[str]:
    """The roles of a recorded session's turns, in order."""
    return [turn["role"] for turn in session["turns"]]


def assistant_turns(session: dict[str, Any]) -> list[dict[str, Any]]:
    """The ASSISTANT turns of a recorded session."""
    return [turn for turn in session["turns"] if turn["role"] == "ASSISTANT"]


async def maybe(value: Any) -> Any:
    """Await ``value`` when a sync/async-agnostic scenario got an awaitable, else return it."""
    if inspect.isawaitable(value):
        return await value
    return value


async def drain(stream: Any, limit: Optional[int] = None) -> list[Any]:
    """Read a sync or async stream to its end (or ``limit`` items, then stop reading)."""
    items: list[Any] = []
    if hasattr(type(stream), "__anext__"):
        async for item in stream:
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
    else:
        for item in stream:
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
    return items


def scenario(body: Callable[[], Awaitable[T]], *clients: Any) -> T:
    """Run an async test scenario on a fresh event loop, then close ``clients`` on it."""

    async def run() -> T:
        try:
            return await body()
        finally:
            for client in clients:
                await maybe(client.close())

    return asyncio.run(run())


class Helpers:
    """The helpers above, as a fixture (test modules cannot import a conftest)."""

    maybe = staticmethod(maybe)
    drain = staticmethod(drain)
    scenario = staticmethod(scenario)
    roles = staticmethod(roles)
    assistant_turns = staticmethod(assistant_turns)


@pytest.fixture
def h() -> type[Helpers]:
    """Helpers shared by the instrumentation tests."""
    return Helpers
