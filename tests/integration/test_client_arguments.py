"""The REST methods check their arguments as session() does: a wrong type is a TypeError
naming the argument, raised before anything is sent, never a mangled record."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from provenant import ProvenantClient
from provenant.server import LocalServer


@pytest.fixture
def client(provenant_server: LocalServer) -> Iterator[ProvenantClient]:
    """A client of a fresh org on the real local server."""
    new = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key(), enabled=False
    )
    try:
        yield new
    finally:
        new.shutdown()


def _session_id(client: ProvenantClient) -> str:
    return str(client.create_session("Bot")["id"])


CALLS: dict[str, tuple[Callable[[ProvenantClient], Any], str]] = {
    "create_session tags as one string": (
        lambda c: c.create_session("Bot", tags="abc"),
        "create_session(): tags must be a list of str",
    ),
    "create_session metadata as a list": (
        lambda c: c.create_session("Bot", metadata=[1, 2]),
        "create_session(): metadata must be a mapping",
    ),
    "create_session user_id as a number": (
        lambda c: c.create_session("Bot", user_id=42),
        "create_session(): user_id must be a str or None, not int",
    ),
    "add_turn tool_calls as one string": (
        lambda c: c.add_turn(_session_id(c), "ASSISTANT", "hi", tool_calls="abc"),
        "add_turn(): tool_calls must be a list of mappings",
    ),
    "add_turn tool_calls as one mapping": (
        lambda c: c.add_turn(_session_id(c), "ASSISTANT", "hi", tool_calls={"id": "1"}),
        "add_turn(): tool_calls must be a list of mappings",
    ),
    "add_turn a tool call that is not a mapping": (
        lambda c: c.add_turn(_session_id(c), "ASSISTANT", "hi", tool_calls=["search"]),
        "add_turn(): every tool call must be a mapping",
    ),
    "add_turn metadata as a list": (
        lambda c: c.add_turn(_session_id(c), "USER", "hi", metadata=[1, 2]),
        "add_turn(): metadata must be a mapping",
    ),
    "create_agent tags as one string": (
        lambda c: c.create_agent("Other Bot", tags="abc"),
        "create_agent(): tags must be a list of str",
    ),
    "create_eval_suite tags as one string": (
        lambda c: c.create_eval_suite("Suite", tags="abc"),
        "create_eval_suite(): tags must be a list of str",
    ),
    "create_eval_run metadata as a list": (
        lambda c: c.create_eval_run(c.create_eval_suite("Suite")["id"], "Bot", metadata=[1]),
        "create_eval_run(): metadata must be a mapping",
    ),
}


@pytest.mark.parametrize("case", list(CALLS))
def test_a_wrong_argument_type_is_a_type_error_naming_it(
    client: ProvenantClient, case: str
) -> None:
    """Each REST method refuses a wrong type with a TypeError that names the argument."""
    call, message = CALLS[case]
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(client)


def test_a_refused_call_stores_nothing(client: ProvenantClient) -> None:
    """A create_session refused for its tags creates no session; one string's letters are
    never stored as tags."""
    with pytest.raises(TypeError):
        client.create_session("Bot", tags="abc")
    assert client.list_sessions() == []


def test_iterables_are_still_taken_whole(client: ProvenantClient) -> None:
    """Tags and tool calls given as generators or tuples are stored whole, read once."""
    session = client.create_session("Bot", tags=(t for t in ["a", "b"]))
    assert session["tags"] == ["a", "b"]
    calls = ({"id": str(n), "name": "search", "arguments": {}} for n in range(2))
    turn = client.add_turn(session["id"], "ASSISTANT", "", tool_calls=calls)
    assert [call["id"] for call in turn["toolCalls"]] == ["0", "1"]
