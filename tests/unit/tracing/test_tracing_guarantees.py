"""Small guarantees of the tracing core: abandoned async generators, the environment switch,
tools that do not capture their output, and oversized inputs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable

import pytest

from provenant.client import ProvenantClient
from provenant.tracing import Span, current_session

Sessions = Callable[[], "list[dict[str, Any]]"]

_BIG = 300 * 1024  # above the 256 KB content limit


class _Ended:
    """An observer keeping every span that ends."""

    def __init__(self) -> None:
        self.ended: list[Span] = []

    def on_start(self, span: Span) -> None:
        pass

    def on_end(self, span: Span) -> None:
        self.ended.append(span)


def _exporter_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("provenant-exporter")]


def test_an_async_generator_abandoned_after_break_ends_its_span_cancelled(
    client: ProvenantClient,
) -> None:
    """A traced async generator left after `break` (never aclose()d by the caller) ends its
    span cancelled when asyncio.run closes the loop, running its own cleanup."""
    observer = _Ended()
    client._tracer.add_observer(observer)
    cleaned_up: list[bool] = []

    @client.trace(kind="step", name="numbers")
    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(10):
                await asyncio.sleep(0)
                yield i
        finally:
            cleaned_up.append(True)

    kept: list[Any] = []

    async def main() -> list[int]:
        got = []
        async with client.session():
            agen = numbers()
            kept.append(agen)  # alive until the loop's shutdown_asyncgens() closes it
            async for item in agen:
                got.append(item)
                if item == 1:
                    break
        return got

    assert asyncio.run(main()) == [0, 1]
    client.shutdown(timeout=10)
    [span] = [s for s in observer.ended if s.name == "numbers"]
    assert span.status == "cancelled" and cleaned_up == [True]


def test_provenant_enabled_false_in_the_environment_starts_no_thread_and_records_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch, recorded: Sessions
) -> None:
    """PROVENANT_ENABLED=false makes a fresh client's sessions and traced calls no-ops:
    no exporter thread starts and nothing is stored."""
    monkeypatch.setenv("PROVENANT_ENABLED", "false")
    before = _exporter_threads()
    disabled = ProvenantClient(base_url=db_url, agent_id="Bot")
    try:

        @disabled.trace
        def entry(x: int) -> int:
            return x + 1

        @disabled.trace(kind="tool")
        def tool(x: int) -> int:
            return x * 2

        with disabled.session() as session:
            session.add_turn("USER", "hello")
            assert entry(1) == 2 and tool(2) == 4
        assert entry(5) == 6
        assert _exporter_threads() == before
        assert disabled.flush(1)
    finally:
        disabled.shutdown(timeout=5)
    monkeypatch.delenv("PROVENANT_ENABLED")
    assert recorded() == []


def test_a_tool_that_does_not_capture_its_output_does_not_record_its_result(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """@trace(kind="tool", capture_output=False) records the TOOL turn without its result."""

    @client.trace(kind="tool", capture_output=False)
    def lookup(order: str) -> str:
        return "secret result"

    with client.session():
        assert lookup("A1") == "secret result"
    client.shutdown(timeout=10)
    [stored] = recorded()
    [turn] = stored["turns"]
    assert turn["role"] == "TOOL" and turn["metadata"]["toolName"] == "lookup"
    assert "secret result" not in str(turn["content"])


def test_a_tool_that_does_not_capture_its_input_does_not_record_its_arguments(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """@trace(kind="tool", capture_input=False) records the result but not the arguments."""

    @client.trace(kind="tool", capture_input=False)
    def lookup(order: str) -> str:
        return "shipped"

    with client.session():
        assert lookup("secret order") == "shipped"
    assert client.shutdown(timeout=10)
    [stored] = recorded()
    [turn] = stored["turns"]
    assert turn["role"] == "TOOL" and turn["content"] == "shipped"
    assert "toolInput" not in turn["metadata"] and "secret order" not in str(turn)


def test_a_300_kb_argument_to_an_entry_point_still_records_the_session(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A traced entry point called with a 300 KB argument records its session and turns,
    with the input truncated, nothing lost."""

    @client.trace
    def entry(document: str) -> int:
        session = current_session()
        assert session is not None
        session.add_turn("USER", "after a big input")
        return len(document)

    assert entry("x" * _BIG) == _BIG
    assert client.shutdown(timeout=10)
    assert client.stats()["dropped"] == {}
    [stored] = recorded()
    assert [t["content"] for t in stored["turns"]] == ["after a big input"]
    captured = stored["metadata"]["input"]["document"]
    assert captured.startswith("xxx") and len(captured.encode()) <= 256 * 1024
    assert stored["metadata"]["truncated"] is True


def test_a_300_kb_tool_input_still_records_the_tool_turn(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A traced tool called with a 300 KB input records its TOOL turn, truncated, not lost."""

    @client.trace(kind="tool")
    def count(text: str) -> str:
        return f"{len(text)} characters"

    with client.session():
        assert count("y" * _BIG) == f"{_BIG} characters"
    assert client.shutdown(timeout=10)
    assert client.stats()["dropped"] == {}
    [stored] = recorded()
    [turn] = stored["turns"]
    assert turn["role"] == "TOOL" and turn["content"] == f"{_BIG} characters"
    tool_input = turn["metadata"].get("toolInput")
    truncated = turn["metadata"].get("truncated") is True or (
        isinstance(tool_input, dict) and len(str(tool_input.get("text", ""))) < _BIG
    )
    assert truncated
    assert turn["metadata"]["truncated"] is True and isinstance(tool_input, dict)


def test_a_tool_returning_a_number_records_its_turn(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A traced tool whose result is a number still records its TOOL turn."""

    @client.trace(kind="tool")
    def add(a: int, b: int) -> int:
        return a + b

    with client.session():
        assert add(2, 3) == 5
    assert client.shutdown(timeout=10)
    assert client.stats()["dropped"] == {}
    [stored] = recorded()
    [turn] = stored["turns"]
    assert turn["role"] == "TOOL" and str(turn["content"]) == "5"


def test_events_enqueued_from_many_threads_at_once_are_all_counted(
    client: ProvenantClient,
) -> None:
    """Eight threads recording at once lose no count: enqueued equals what was recorded."""
    barrier = threading.Barrier(8)

    def record(index: int) -> None:
        barrier.wait()
        with client.session(external_id=f"thread-{index}") as session:
            for n in range(250):
                session.add_turn("USER", str(n))

    threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert client.shutdown(timeout=30)
    stats = client.stats()
    assert stats["enqueued"] == stats["delivered"] == 8 * 252 and stats["dropped"] == {}


def test_an_exporter_that_cannot_start_its_threads_never_raises_into_the_host(
    client: ProvenantClient, recorded: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Thread.start raising (as at interpreter shutdown), a session block and a traced
    call run and return normally, unrecorded; once threads start again, recording resumes."""

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    @client.trace
    def entry(x: int) -> int:
        return x + 1

    monkeypatch.setattr(threading.Thread, "start", refuse)
    ran: list[int] = []
    with client.session() as session:
        session.add_turn("USER", "lost")
        ran.append(entry(1))
    assert ran == [2] and entry(5) == 6 and session.id is None
    monkeypatch.undo()
    assert client.stats()["dropped"]["no_worker"] >= 3
    with client.session(external_id="after") as later:
        later.add_turn("USER", "kept")
    client.shutdown(timeout=10)
    [stored] = recorded()
    assert stored["externalId"] == "after" and [t["content"] for t in stored["turns"]] == ["kept"]
