"""How a session ends when its block or traced entry point is left by an exception: only
an Exception (or a non-zero exit code) fails it; sys.exit(0) completes it;
KeyboardInterrupt and other BaseExceptions cancel it."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, Iterator

import pytest
from conftest import Sessions

from provenant.client import ProvenantClient

ENDINGS: dict[str, tuple[Callable[[], BaseException], str]] = {
    "sys.exit(0)": (lambda: SystemExit(0), "COMPLETED"),
    "sys.exit()": (lambda: SystemExit(None), "COMPLETED"),
    "sys.exit(2)": (lambda: SystemExit(2), "FAILED"),
    "sys.exit('message')": (lambda: SystemExit("bye"), "FAILED"),
    "KeyboardInterrupt": (KeyboardInterrupt, "CANCELLED"),
    "ValueError": (lambda: ValueError("boom"), "FAILED"),
}


def _run_entry(client: ProvenantClient, how: str, error: BaseException) -> None:
    """Leave a session opened in the way ``how`` names by raising ``error`` inside it."""

    def body() -> None:
        raise error

    if how == "with session":
        with client.session():
            body()
    elif how == "async with session":

        async def main() -> None:
            async with client.session():
                body()

        asyncio.run(main())
    elif how == "@trace function":
        client.trace(lambda: body())()
    elif how == "@trace coroutine":

        @client.trace
        async def entry() -> None:
            body()

        asyncio.run(entry())
    elif how == "@trace generator":

        @client.trace
        def produce() -> Iterator[int]:
            yield 1
            body()

        list(produce())
    else:
        assert how == "@trace async generator"

        @client.trace
        async def aproduce() -> Any:
            yield 1
            body()

        async def consume() -> None:
            async for _ in aproduce():
                pass

        asyncio.run(consume())


HOWS = [
    "with session",
    "async with session",
    "@trace function",
    "@trace coroutine",
    "@trace generator",
    "@trace async generator",
]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_session_ends_with_the_status_its_exception_means(
    client: ProvenantClient, recorded: Sessions, how: str, ending: str
) -> None:
    """The exception propagates unchanged, and the session ends COMPLETED, FAILED or
    CANCELLED as the kind of exception (and an exit's code) means."""
    make, expected = ENDINGS[ending]
    error = make()
    with pytest.raises(type(error)) as caught:
        _run_entry(client, how, error)
    assert caught.value is error
    assert client.flush(10)
    [stored] = recorded()
    assert stored["status"] == expected


def test_sys_exit_0_inside_a_traced_entry_point_keeps_a_status_set_before(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A clean exit does not overwrite a status the program set on its session."""
    with pytest.raises(SystemExit), client.session() as session:
        session.set_status("CANCELLED")
        sys.exit(0)
    assert client.flush(10)
    [stored] = recorded()
    assert stored["status"] == "CANCELLED"
