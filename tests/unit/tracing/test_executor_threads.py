"""Traced tools run in executor threads: never an error, recorded when the context is
carried (the SDK's executor as the loop's default, asyncio.to_thread), logged when not."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from conftest import Sessions

from provenant import _logging
from provenant.client import ProvenantClient
from provenant.tracing import ThreadPoolExecutor


@pytest.fixture
def bare(db_url: str) -> Iterator[ProvenantClient]:
    """A client with no default agent: a session names its own."""
    instance = ProvenantClient(base_url=db_url)
    _logging._reset_for_tests()
    try:
        yield instance
    finally:
        instance.shutdown(timeout=10)
        _logging._reset_for_tests()


def _tool_of(client: ProvenantClient) -> Callable[[str], str]:
    @client.trace(kind="tool")
    def lookup(order: str) -> str:
        return f"order {order} shipped"

    return lookup


def test_a_traced_tool_in_run_in_executor_never_raises_and_says_why_once(
    bare: ProvenantClient, recorded: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    """In loop.run_in_executor's default executor (no context), a traced tool returns its
    result, records nothing and logs one warning that says how to carry the session."""
    lookup = _tool_of(bare)

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        async with bare.session("Support Bot") as session:
            session.add_turn("USER", "where is my order?")
            results = [await loop.run_in_executor(None, lookup, str(n)) for n in range(3)]
            with concurrent.futures.ThreadPoolExecutor() as pool:
                results.append(pool.submit(lookup, "plain").result())
            return results

    with caplog.at_level(logging.WARNING, logger="provenant"):
        assert asyncio.run(main()) == [f"order {n} shipped" for n in ("0", "1", "2", "plain")]
        assert bare.flush(10)
    [stored] = recorded()
    assert [t["role"] for t in stored["turns"]] == ["USER"]
    [line] = [r.getMessage() for r in caplog.records if "ran outside any session" in r.getMessage()]
    assert "lookup" in line and "set_default_executor(provenant.ThreadPoolExecutor())" in line


def test_the_sdk_executor_as_the_loop_default_records_the_tool_in_the_session(
    bare: ProvenantClient, recorded: Sessions
) -> None:
    """Opting in with loop.set_default_executor(provenant.ThreadPoolExecutor()) carries
    the session into run_in_executor: the tool's TOOL turn lands in it."""
    lookup = _tool_of(bare)

    async def main() -> str:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor())
        async with bare.session("Support Bot"):
            return await loop.run_in_executor(None, lookup, "A-1")

    assert asyncio.run(main()) == "order A-1 shipped"
    assert bare.flush(10)
    [stored] = recorded()
    [turn] = stored["turns"]
    assert turn["role"] == "TOOL" and turn["content"] == "order A-1 shipped"


def test_asyncio_to_thread_carries_the_session(bare: ProvenantClient, recorded: Sessions) -> None:
    """asyncio.to_thread copies the context itself: the tool records into the session."""
    lookup = _tool_of(bare)

    async def main() -> Any:
        async with bare.session("Support Bot"):
            return await asyncio.to_thread(lookup, "B-2")

    assert asyncio.run(main()) == "order B-2 shipped"
    assert bare.flush(10)
    [stored] = recorded()
    assert [t["content"] for t in stored["turns"]] == ["order B-2 shipped"]


def test_with_a_default_agent_a_tool_without_context_records_its_own_session(
    client: ProvenantClient, recorded: Sessions, tmp_path: Path
) -> None:
    """What can be recorded is: with a default agent, the tool in a bare thread opens a
    session of its own (its TOOL turn in it) rather than none."""
    lookup = _tool_of(client)
    with client.session(), concurrent.futures.ThreadPoolExecutor() as pool:
        assert pool.submit(lookup, "C-3").result() == "order C-3 shipped"
    assert client.flush(10)
    sessions = recorded()
    assert sorted(len(s["turns"]) for s in sessions) == [0, 1]
