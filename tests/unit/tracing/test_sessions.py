"""Sessions: blocks, nesting, child sessions, handles, sampling, and what reaches the store."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

import pytest

import provenant
from provenant._logging import fault_counts
from provenant.client import ProvenantClient
from provenant.errors import ConfigurationError
from provenant.tracing import current_session, current_span
from provenant.tracing._arguments import SessionOptions

Sessions = Callable[[], "list[dict[str, Any]]"]


def test_a_block_records_one_session_with_its_turns(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """Turns added inside a session block land in that one session, in order, then it ends."""
    with client.session("Bot", user_id="u1", metadata={"k": "v"}, tags=["t"]) as session:
        assert current_session() is session
        session.add_turn("USER", "hello")
        session.add_turn("assistant", "hi", input_tokens=3, output_tokens=5, latency_ms=7)
    assert current_session() is None
    client.shutdown()
    [stored] = recorded()
    assert stored["status"] == "COMPLETED" and stored["userId"] == "u1"
    assert stored["externalId"] == session.external_id
    assert stored["metadata"] == {"k": "v"} and stored["tags"] == ["t"]
    assert [(t["role"], t["content"]) for t in stored["turns"]] == [
        ("USER", "hello"),
        ("ASSISTANT", "hi"),
    ]
    assert stored["totalTokens"] == 8
    assert session.usage == {"input_tokens": 3, "output_tokens": 5, "turns": 2}


def test_external_id_is_known_at_once_and_id_after_a_bounded_wait(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """external_id is the client-side UUID sent as externalId; id waits for the create."""
    with client.session() as session:
        external = session.external_id
        assert len(external) == 36
        server_id = session.id
    client.shutdown()
    [stored] = recorded()
    assert server_id == stored["id"] and stored["externalId"] == external


def test_a_given_external_id_is_sent(client: ProvenantClient, recorded: Sessions) -> None:
    """An external_id passed by the user is the one sent."""
    with client.session(external_id="conv-42"):
        pass
    client.shutdown()
    assert recorded()[0]["externalId"] == "conv-42"


def test_nested_session_of_the_same_agent_joins(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """session() inside a session of the same agent joins it: one session, no new create."""
    with client.session("Bot") as outer:
        outer.add_turn("USER", "one")
        with client.session("Bot") as inner:
            assert inner is outer and current_session() is outer
            inner.add_turn("USER", "two")
        assert current_session() is outer
        outer.add_turn("USER", "three")
    client.shutdown()
    [stored] = recorded()
    assert [t["content"] for t in stored["turns"]] == ["one", "two", "three"]


def test_nested_session_of_another_agent_is_a_child(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """Inside another agent's session, session() opens a child session naming its parent."""
    with client.session("Planner") as parent:
        parent.add_turn("USER", "plan")
        with client.session("Researcher") as child:
            assert child is not parent and child.parent is parent
            child.add_turn("USER", "research")
        assert current_session() is parent
    client.shutdown()
    by_agent = {s["agent"]["name"]: s for s in recorded()}
    assert by_agent["Researcher"]["metadata"]["parentSessionId"] == by_agent["Planner"]["id"]
    assert by_agent["Researcher"]["metadata"]["parentSessionExternalId"] == parent.external_id
    assert [t["content"] for t in by_agent["Researcher"]["turns"]] == ["research"]
    assert [t["content"] for t in by_agent["Planner"]["turns"]] == ["plan"]
    assert by_agent["Researcher"]["status"] == by_agent["Planner"]["status"] == "COMPLETED"


def test_an_exception_fails_its_own_session_and_propagates_unchanged(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A block that raises ends its session FAILED, restores the context and re-raises as is."""
    error = KeyError("boom")
    with pytest.raises(KeyError) as caught, client.session("Bot"), client.session("Other"):
        raise error
    assert caught.value is error
    assert current_session() is None and current_span() is None
    client.shutdown()
    assert sorted(s["status"] for s in recorded()) == ["FAILED", "FAILED"]


def test_an_inner_exception_caught_inside_does_not_fail_the_outer_session(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """Only the session whose block raised ends FAILED."""
    with client.session("Bot") as outer:
        try:
            with client.session("Other"):
                raise ValueError("inner")
        except ValueError:
            pass
        assert current_session() is outer
    client.shutdown()
    statuses = {s["agent"]["name"]: s["status"] for s in recorded()}
    assert statuses == {"Bot": "COMPLETED", "Other": "FAILED"}


def test_start_session_is_not_current_and_with_does_not_end_it(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """start_session() returns a handle not made current; `with handle:` makes it current only."""
    handle = client.start_session("Bot")
    assert current_session() is None
    with handle as entered:
        assert entered is handle and current_session() is handle
        handle.add_turn("USER", "first request")
    assert current_session() is None and not handle.ended
    with handle:
        handle.add_turn("USER", "second request")
    client.flush()
    assert recorded()[0]["status"] == "ACTIVE"
    handle.end()
    client.shutdown()
    [stored] = recorded()
    assert stored["status"] == "COMPLETED"
    assert [t["content"] for t in stored["turns"]] == ["first request", "second request"]


def test_session_id_resumes_without_create_or_end(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """session(session_id=...) adds to an existing session, creating and ending nothing."""
    with client.session("Bot") as first:
        first.add_turn("USER", "before")
    server_id = first.id
    assert server_id is not None
    existing = client.create_session("Bot")
    with client.session(session_id=existing["id"]) as resumed:
        assert resumed.id == existing["id"]
        resumed.add_turn("USER", "resumed")
    client.shutdown()
    stored = {s["id"]: s for s in recorded()}
    assert len(stored) == 2
    assert stored[existing["id"]]["status"] == "ACTIVE"
    assert [t["content"] for t in stored[existing["id"]]["turns"]] == ["resumed"]


def test_no_agent_anywhere_raises_a_configuration_error_at_once(db_url: str) -> None:
    """With no agent given and none configured, session() raises ConfigurationError at once."""
    bare = ProvenantClient(base_url=db_url)
    try:
        with pytest.raises(ConfigurationError, match="agent"):
            bare.session()
        with pytest.raises(ConfigurationError, match="agent"):
            bare.start_session()
    finally:
        bare.shutdown()


def test_agent_names_resolve_once_and_are_cached(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """Sessions of one agent name resolve it once, in the background, and reuse the id."""
    for _ in range(3):
        with client.session("Cached Bot"):
            pass
    client.shutdown()
    sessions = recorded()
    assert len({s["agentId"] for s in sessions}) == 1
    assert client._agents.cached("Cached Bot") == sessions[0]["agentId"]


def test_current_session_answers_whichever_client_opened_it(
    client: ProvenantClient, db_url: str, recorded: Sessions
) -> None:
    """provenant.current_session() and another client's tracing see a session of any client."""
    other = ProvenantClient(base_url=db_url, agent_id="Bot")
    try:
        with client.session("Bot") as session:
            assert provenant.current_session() is session
            joined, owned = other._tracer.session_for_call(SessionOptions(agent_id="Else"))
            assert joined is session and not owned
    finally:
        other.shutdown()


def test_unsampled_sessions_record_nothing_nested_included(db_url: str, recorded: Sessions) -> None:
    """sample_rate=0 records no session, and nested blocks and calls stay unsampled."""
    quiet = ProvenantClient(base_url=db_url, agent_id="Bot", sample_rate=0.0)

    @quiet.trace(kind="tool")
    def lookup() -> str:
        return "x"

    with quiet.session() as session:
        assert not session.sampled and current_session() is session
        session.add_turn("USER", "dropped")
        with quiet.session("Other") as child:
            assert not child.sampled
        assert lookup() == "x"
    assert quiet.stats()["enqueued"] == 0
    quiet.shutdown()
    assert recorded() == []


def test_disabled_client_is_a_no_op_without_threads(db_url: str, recorded: Sessions) -> None:
    """enabled=False makes every entry point a no-op: no thread, nothing recorded."""
    before = {t.name for t in threading.enumerate()}
    off = ProvenantClient(base_url=db_url, enabled=False)

    @off.trace
    def work(x: int) -> int:
        return x + 1

    with off.session() as session:
        session.add_turn("USER", "nothing")
        assert current_session() is None
        assert work(1) == 2
    assert session.id is None
    assert off.stats()["enqueued"] == 0 and off.flush(1)
    after = {t.name for t in threading.enumerate()}
    assert not {n for n in after - before if n.startswith("provenant")}
    off.shutdown()
    assert recorded() == []


def test_capture_content_off_records_roles_tokens_and_latency_only(
    db_url: str, recorded: Sessions
) -> None:
    """capture_content=False keeps roles, tokens and latency and drops the content."""
    private = ProvenantClient(base_url=db_url, agent_id="Bot", capture_content=False)
    with private.session() as session:
        session.add_turn(
            "ASSISTANT",
            "secret",
            input_tokens=1,
            output_tokens=2,
            latency_ms=3,
            tool_calls=[{"id": "c1", "name": "search", "input": {"q": "secret"}}],
        )
    private.shutdown()
    [turn] = recorded()[0]["turns"]
    assert "secret" not in repr(turn)
    assert (turn["role"], turn["inputTokens"], turn["outputTokens"], turn["latencyMs"]) == (
        "ASSISTANT",
        1,
        2,
        3,
    )
    assert turn["toolCalls"] == [{"id": "c1", "name": "search"}]


def test_mask_rewrites_content_and_a_raising_mask_never_reaches_the_host(
    db_url: str, recorded: Sessions
) -> None:
    """The mask runs before content leaves; a mask that raises records a placeholder."""

    def mask(value: Any) -> Any:
        if value == "explode":
            raise RuntimeError("mask bug")
        return str(value).replace("4242", "****")

    masked = ProvenantClient(base_url=db_url, agent_id="Bot", mask=mask)
    with masked.session() as session:
        session.add_turn("USER", "card 4242")
        session.add_turn("USER", "explode")
    masked.shutdown()
    contents = [t["content"] for t in recorded()[0]["turns"]]
    assert contents == ["card ****", "<masked: the mask function failed>"]


def test_oversized_turn_is_truncated_with_metadata(db_url: str, recorded: Sessions) -> None:
    """A content over max_content_bytes is cut and the turn says metadata.truncated."""
    small = ProvenantClient(base_url=db_url, agent_id="Bot", max_content_bytes=2048)
    with small.session() as session:
        session.add_turn("USER", "z" * 10_000)
    small.shutdown()
    [turn] = recorded()[0]["turns"]
    assert turn["metadata"]["truncated"] is True and len(turn["content"]) <= 2048


def test_a_bad_turn_never_raises(client: ProvenantClient, recorded: Sessions) -> None:
    """add_turn with a wrong role or unserialisable content logs and goes on."""
    with client.session() as session:
        session.add_turn("WIZARD", "x")
        session.add_turn("USER", object())
    client.shutdown()
    [turn] = recorded()[0]["turns"]
    assert turn["content"].startswith("<object object")


def test_counts_and_integers_the_wire_cannot_take_never_cost_a_turn_or_the_end(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A token count or latency that is no integer within 2**53 - 1 is left out of its turn
    (logged), an integer past it in content or metadata is recorded as its text, and the
    session still ends, its totals within what the wire takes."""
    before = fault_counts()
    with client.session() as session:
        session.add_turn("USER", {"order": 2**64}, metadata={"huge": 10**5000, "n": 3})
        session.add_turn("ASSISTANT", "a", input_tokens=10**5000, latency_ms="12")
        session.add_turn("ASSISTANT", "b", input_tokens=2**53 - 1, output_tokens=2.0)
    client.shutdown()
    assert client.stats()["dropped"] == {}
    [stored] = recorded()
    first, second, third = stored["turns"]
    assert first["content"] == {"order": "18446744073709551616"}
    assert first["metadata"] == {"huge": "<int of 16610 bits>", "n": 3}
    assert second["inputTokens"] is None and second["latencyMs"] is None
    assert second["content"] == "a"
    assert third["inputTokens"] == 2**53 - 1 and third["outputTokens"] == 2
    assert stored["status"] == "COMPLETED" and stored["totalTokens"] == 2**53 - 1
    after = fault_counts()
    for kind in ("turn-input_tokens", "turn-latency_ms"):
        assert after.get(kind, 0) - before.get(kind, 0) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"agent_id": 123}, "agent_id must be a str or None, not int"),
        ({"session_id": 5}, "session_id must be a str or None, not int"),
        ({"user_id": 42}, "user_id must be a str or None, not int"),
        ({"external_id": object()}, "external_id must be a str or None, not object"),
        ({"environment_id": 1.5}, "environment_id must be a str or None, not float"),
        ({"metadata": "k=v"}, "metadata must be a mapping"),
        ({"tags": "prod"}, "tags must be a list of str or None, not str"),
        ({"tags": ["prod", 1]}, "every tag must be a str, not int"),
    ],
)
def test_session_arguments_of_the_wrong_type_raise_a_type_error_naming_them(
    client: ProvenantClient, recorded: Sessions, arguments: dict[str, Any], message: str
) -> None:
    """session() and start_session() name an argument of the wrong type at once, where a
    wrong type found on the worker would cost the whole session; nothing is recorded."""
    with pytest.raises(TypeError, match=f"^session\\(\\): {message}"):
        client.session(**arguments)
    with pytest.raises(TypeError, match=f"^start_session\\(\\): {message}"):
        client.start_session(**arguments)
    client.shutdown()
    assert recorded() == [] and client.stats()["dropped"] == {}


def test_tool_calls_that_are_not_mappings_never_cost_the_turn(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """Tool calls that are not a list of mappings are left out of the turn (a counted,
    logged fault) and the turn is recorded; a role that is not text is refused as a
    wrong one is."""
    call = {"id": "c1", "name": "search", "arguments": {"q": "refunds"}}
    before = fault_counts()
    with client.session() as session:
        session.add_turn("ASSISTANT", "kept", tool_calls=[call, 5, None])
        session.add_turn("ASSISTANT", "alone", tool_calls="search")  # type: ignore[arg-type]
        session.add_turn(None, "no role")  # type: ignore[arg-type]
    client.shutdown()
    first, second = recorded()[0]["turns"]
    assert (first["content"], first["toolCalls"]) == ("kept", [call])
    assert (second["content"], second["toolCalls"]) == ("alone", [])
    after = fault_counts()
    for kind, times in (("turn-tool-calls", 2), ("turn-role", 1)):
        assert after.get(kind, 0) - before.get(kind, 0) == times


def test_a_turn_added_after_the_end_is_recorded_and_counted(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """A handle used past its block still records its turn, as a counted, logged fault."""
    before = fault_counts().get("turn-after-end", 0)
    with client.session() as session:
        session.add_turn("USER", "inside")
    session.add_turn("USER", "after")
    client.shutdown()
    assert [turn["content"] for turn in recorded()[0]["turns"]] == ["inside", "after"]
    assert fault_counts().get("turn-after-end", 0) == before + 1


def test_async_with_and_concurrent_tasks_keep_their_own_session(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """async with works, and concurrent tasks never see each other's session."""

    async def conversation(index: int) -> None:
        async with client.session("Bot", external_id=f"conv-{index}") as session:
            for turn in range(3):
                await asyncio.sleep(0)
                assert current_session() is session
                session.add_turn("USER", f"{index}-{turn}")

    async def main() -> None:
        await asyncio.gather(*(conversation(i) for i in range(5)))

    asyncio.run(main())
    client.shutdown()
    for stored in recorded():
        index = stored["externalId"].split("-")[1]
        assert [t["content"] for t in stored["turns"]] == [f"{index}-{n}" for n in range(3)]


def test_otel_only_runs_observers_and_enqueues_nothing(db_url: str, recorded: Sessions) -> None:
    """With otel set the OpenTelemetry observer is registered; otel-only delivers nothing."""
    from opentelemetry.sdk.trace import TracerProvider

    client = ProvenantClient(
        base_url=db_url, agent_id="Bot", otel=TracerProvider(), destination="otel-only"
    )
    assert len(client._tracer._observers) == 1
    with client.session() as session:
        session.add_turn("USER", "only spans")
    assert session.usage["turns"] == 1
    assert client.stats()["enqueued"] == 0
    client.shutdown()
    assert recorded() == []


def test_a_child_session_follows_its_parents_sampling(db_url: str, recorded: Sessions) -> None:
    """The sampling decision is taken once per tree: a child of a sampled session is recorded."""
    parent_client = ProvenantClient(base_url=db_url, agent_id="Bot", sample_rate=1.0)
    child_client = ProvenantClient(base_url=db_url, agent_id="Helper", sample_rate=0.0)
    with parent_client.session(), child_client.session("Helper") as child:
        assert child.sampled
        child.add_turn("USER", "kept")
    child_client.shutdown()
    parent_client.shutdown()
    by_agent = {s["agent"]["name"]: s for s in recorded()}
    assert [t["content"] for t in by_agent["Helper"]["turns"]] == ["kept"]
    assert by_agent["Helper"]["metadata"]["parentSessionId"] == by_agent["Bot"]["id"]


def test_deferred_work_runs_in_the_session_order_and_its_faults_never_reach_the_host(
    client: ProvenantClient, recorded: Sessions
) -> None:
    """Deferred work runs on the worker between the turns around it; a fault is counted."""
    from provenant._logging import fault_counts

    before = fault_counts().get("deferred-record", 0)
    ran_on: list[str] = []

    def work() -> list[dict[str, Any]]:
        ran_on.append(threading.current_thread().name)
        body = session.build_turn("ASSISTANT", "deferred", input_tokens=2, output_tokens=3)
        return [] if body is None else [body]

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("a bug of ours")

    with client.session("Bot") as session:
        session.add_turn("USER", "first")
        session.add_deferred(work)
        session.add_deferred(broken)
        session.add_turn("USER", "last")
        assert session.usage == {"input_tokens": 2, "output_tokens": 3, "turns": 3}
    client.shutdown()
    [stored] = recorded()
    assert [t["content"] for t in stored["turns"]] == ["first", "deferred", "last"]
    assert ran_on and ran_on[0].startswith("provenant-exporter")
    assert fault_counts().get("deferred-record", 0) == before + 1
    assert client.stats()["dropped"] == {"record_failed": 1}
