"""instrument() and uninstrument(): what gets patched, sessions, de-duplication, concurrency."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anthropic
import openai
import pytest
from provider_clients import anthropic_client, closed_after_test

import provenant
from provenant._fake_provider import FakeProvider, Reply, ToolCall
from provenant.client import ProvenantClient

MODEL = "claude-test"


def ask(client: Any, *texts: str) -> Any:
    messages = [{"role": "user", "content": t} for t in texts]
    return client.messages.create(model=MODEL, max_tokens=9, messages=messages)


@pytest.fixture
def client(fake_provider: FakeProvider, provenant_client: ProvenantClient) -> anthropic.Anthropic:
    return provenant.instrument(
        anthropic_client(fake_provider), provenant=provenant_client, agent_id="Bot"
    )


def test_instrument_returns_the_same_client(fake_provider, provenant_client):
    """instrument() returns the very client object it was given, and its copies are patched."""
    for raw in (
        anthropic_client(fake_provider),
        anthropic.AsyncAnthropic(base_url=fake_provider.url, api_key="k"),
        openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="k"),
        openai.AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="k"),
        openai.AzureOpenAI(azure_endpoint=fake_provider.url, api_key="k", api_version="2024-06-01"),
        anthropic.AnthropicBedrock(aws_region="us-east-1", aws_access_key="a", aws_secret_key="b"),
    ):
        assert provenant.instrument(raw, provenant=provenant_client, agent_id="Bot") is raw
        copy = raw.with_options(timeout=5)
        assert copy._provenant_instrumentation is not None
        if not isinstance(raw, (anthropic.AsyncAnthropic, openai.AsyncOpenAI)):
            raw.close()
            copy.close()


@pytest.mark.parametrize("thing", [object(), "anthropic", dict, ProvenantClient])
def test_unsupported_objects_raise_a_type_error_naming_the_clients(thing):
    """Anything but a supported client or client class (or nothing) raises a TypeError
    naming the supported ones."""
    with pytest.raises(TypeError, match=r"anthropic\.Anthropic.*openai\.OpenAI"):
        provenant.instrument(thing)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"agent_id": 7}, "agent_id must be a str or None, not int"),
        ({"user_id": b"u"}, "user_id must be a str or None, not bytes"),
        ({"metadata": ["k", "v"]}, "metadata must be a mapping"),
        ({"tags": "prod"}, "tags must be a list of str or None, not str"),
        ({"provenant": "pk_live_x"}, "provenant must be a ProvenantClient or None, not str"),
    ],
)
def test_session_arguments_of_the_wrong_type_raise_at_instrument(
    fake_provider, provenant_client, arguments, message
):
    """instrument() names an argument of the wrong type at once, and leaves the client
    as it was, rather than losing every session its calls would open."""
    raw = anthropic_client(fake_provider)
    with pytest.raises(TypeError, match=f"^instrument\\(\\): {message}"):
        provenant.instrument(raw, **{"provenant": provenant_client, **arguments})
    assert getattr(raw, "_provenant_instrumentation", None) is None


def test_clients_instrumented_with_one_api_key_share_one_recorder(
    fake_provider, provenant_server, provenant_api_key, provenant_client
):
    """An app that instruments a new provider client per request, passing api_key=,
    records every call through one recorder: one exporter thread, not one per client."""

    def exporter_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("provenant-exporter")}

    before = exporter_threads()
    options = {"api_key": provenant_api_key, "base_url": provenant_server.url, "agent_id": "Bot"}
    for index in range(20):
        client = provenant.instrument(anthropic_client(fake_provider), **options)
        ask(client, f"request {index}")
    assert len(exporter_threads() - before) == 1
    recorder = client._provenant_instrumentation.integration.provenant
    assert recorder is not None and recorder.flush(10)
    assert len(provenant_client.list_sessions()) == 20
    other = provenant.instrument(anthropic_client(fake_provider), **options, timeout=5)
    other_recorder = other._provenant_instrumentation.integration.provenant
    assert other_recorder is not recorder
    recorder.shutdown(10)
    other_recorder.shutdown(10)


def test_instrument_does_no_network_io(fake_provider, provenant_client):
    """instrument() contacts neither the provider nor Provenant (a dead URL is fine)."""
    raw = anthropic_client(fake_provider)
    provenant.instrument(raw, base_url="http://127.0.0.1:9", api_key="pk_live_" + "0" * 32)
    provenant.instrument(anthropic_client(fake_provider), provenant=provenant_client, agent_id="X")
    assert fake_provider.received() == []
    assert provenant_client.list_agents() == []


def test_instrumenting_twice_records_once(client, provenant_client, recorded):
    """A second instrument() on the same client changes nothing: each call is recorded once."""
    assert provenant.instrument(client, provenant=provenant_client, agent_id="Bot") is client
    ask(client, "once")
    [session] = recorded()
    assert [t["role"] for t in session["turns"]] == ["USER", "ASSISTANT"]


@pytest.mark.parametrize("method", ["with_options", "copy"])
def test_copies_are_instrumented_too(client, method, recorded):
    """A client made by with_options() or copy() records its calls too."""
    copy = getattr(client, method)(timeout=30)
    closed_after_test(copy)
    assert copy is not client
    assert type(copy) is type(client)
    ask(copy, "from the copy")
    [session] = recorded()
    assert session["turns"][0]["content"] == "from the copy"


def test_uninstrument_restores_the_client(client, fake_provider, recorded):
    """uninstrument() restores the original methods and stops recording, copies included."""
    copy = client.with_options(timeout=30)
    closed_after_test(copy)
    assert provenant.uninstrument(client) is client
    assert "create" not in vars(client.messages)
    assert client.messages.create.__func__ is anthropic.resources.Messages.create
    ask(client, "not recorded")
    ask(copy, "not recorded either")
    assert len(fake_provider.received()) == 2
    assert recorded() == []
    assert provenant.uninstrument(client) is client


def test_each_call_outside_a_session_is_its_own_ended_session(client, recorded):
    """Outside any session, every call is recorded as a single-call session, ended."""
    ask(client, "one")
    ask(client, "two")
    sessions = recorded()
    assert [s["turns"][0]["content"] for s in sessions] == ["one", "two"]
    assert all(s["status"] == "COMPLETED" and s["endedAt"] for s in sessions)
    assert all(len(s["turns"]) == 2 for s in sessions)


def test_a_single_call_session_records_only_the_calls_own_input(client, recorded):
    """Outside a session, resent history is not recorded: only what follows the last reply."""
    messages = [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "earlier reply"},
        {"role": "user", "content": "now"},
    ]
    client.messages.create(model=MODEL, max_tokens=9, messages=messages)
    [session] = recorded()
    assert [t["content"] for t in session["turns"]] == ["now", "You said: now"]


def test_calls_inside_session_and_trace_share_one_session(client, provenant_client, recorded):
    """Calls inside session() and inside a traced function share the one active session."""

    @provenant_client.trace(name="plan")
    def plan() -> None:
        ask(client, "planned")

    with provenant_client.session("Bot"):
        ask(client, "first")
        plan()
    [session] = recorded()
    assert session["status"] == "COMPLETED"
    assert [t["content"] for t in session["turns"] if t["role"] == "USER"] == ["first", "planned"]
    planned = [t for t in session["turns"] if t["role"] == "ASSISTANT"][1]
    assert planned["metadata"]["span"] == ["plan"]


def test_fifty_concurrent_async_conversations_never_mix(fake_provider, provenant_client, recorded):
    """Fifty concurrent async conversations each record only their own turns, in order."""
    client = provenant.instrument(
        openai.AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=0),
        provenant=provenant_client,
    )

    async def conversation(index: int) -> None:
        messages: list[Any] = []
        async with provenant_client.session("Bot", external_id=f"conv-{index}"):
            for turn in range(3):
                messages.append({"role": "user", "content": f"c{index} q{turn}"})
                stream = turn == 1
                result = await client.chat.completions.create(
                    model="gpt-test", messages=messages, stream=stream
                )
                if stream:
                    text = "".join([c.choices[0].delta.content or "" async for c in result])
                else:
                    text = result.choices[0].message.content
                messages.append({"role": "assistant", "content": text})

    async def main() -> None:
        try:
            await asyncio.gather(*(conversation(i) for i in range(50)))
        finally:
            await client.close()

    asyncio.run(main())
    sessions = recorded()
    assert len(sessions) == 50
    for session in sessions:
        index = session["externalId"].split("-")[1]
        expected: list[str] = []
        for turn in range(3):
            expected += [f"c{index} q{turn}", f"You said: c{index} q{turn}"]
        assert [t["content"] for t in session["turns"]] == expected


def test_independent_conversations_in_one_session_each_record_their_messages(
    client, provenant_client, recorded
):
    """Two conversations interleaved in one session each record their own new messages."""
    with provenant_client.session("Bot"):
        history_a: list[Any] = []
        history_b: list[Any] = []
        for turn in range(2):
            for name, history in (("a", history_a), ("b", history_b)):
                history.append({"role": "user", "content": f"{name}{turn}"})
                reply = client.messages.create(model=MODEL, max_tokens=9, messages=history)
                history.append({"role": "assistant", "content": reply.content})
    [session] = recorded()
    users = [t["content"] for t in session["turns"] if t["role"] == "USER"]
    assert users == ["a0", "b0", "a1", "b1"]
    assert [t["role"] for t in session["turns"]].count("ASSISTANT") == 4


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_conversation_with_its_history_cut_records_each_turn_once(
    provider, fake_provider, provenant_client, recorded
):
    """An agent that keeps only the system prompt and its last messages (a sliding window)
    records 10 USER and 10 ASSISTANT turns, in order, as with its history whole."""
    if provider == "anthropic":
        raw: Any = anthropic_client(fake_provider)
    else:
        raw = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=0)
        closed_after_test(raw)
    client = provenant.instrument(raw, provenant=provenant_client, agent_id="Bot")
    window: list[Any] = []
    with provenant_client.session("Bot"):
        for turn in range(10):
            window.append({"role": "user", "content": f"question {turn}"})
            if provider == "anthropic":
                reply = client.messages.create(
                    model=MODEL, max_tokens=9, system="Be brief.", messages=window
                )
                window.append({"role": "assistant", "content": reply.content})
            else:
                messages = [{"role": "system", "content": "Be brief."}, *window]
                completion = client.chat.completions.create(model=MODEL, messages=messages)
                window.append(
                    {"role": "assistant", "content": completion.choices[0].message.content}
                )
            window = window[-3:]  # the last answer, question and answer
    [session] = recorded()
    turns = session["turns"]
    assert [t["role"] for t in turns] == ["SYSTEM"] + ["USER", "ASSISTANT"] * 10
    assert [t["content"] for t in turns if t["role"] == "USER"] == [
        f"question {n}" for n in range(10)
    ]


def test_a_tool_result_recorded_by_a_traced_tool_is_not_recorded_again(
    client, fake_provider, provenant_client, recorded
):
    """A tool result that @trace(kind="tool") recorded is not recorded again when sent back."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="toolu_7")]),
        Reply(text="Snowy."),
    )

    @provenant_client.trace(kind="tool")
    def get_weather(city: str) -> dict[str, Any]:
        return {"city": city, "sky": "snow"}

    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    with provenant_client.session("Bot"):
        first = client.messages.create(model=MODEL, max_tokens=9, messages=messages)
        call = first.content[0]
        result = get_weather(**call.input)
        messages.append({"role": "assistant", "content": first.content})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": str(result)}
                ],
            }
        )
        client.messages.create(model=MODEL, max_tokens=9, messages=messages)
    [session] = recorded()
    assert [t["role"] for t in session["turns"]] == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]


def test_a_disabled_client_passes_calls_through_unrecorded(fake_provider, provenant_server):
    """With tracing disabled the call is the provider's, and nothing is recorded."""
    key = provenant_server.create_api_key()
    quiet = ProvenantClient(base_url=provenant_server.url, api_key=key, enabled=False)
    try:
        client = provenant.instrument(
            anthropic_client(fake_provider), provenant=quiet, agent_id="B"
        )
        assert ask(client, "hello").content[0].text == "You said: hello"
        quiet.flush(5)
        assert quiet.list_sessions() == []
    finally:
        quiet.shutdown(5)


def test_without_a_client_the_default_client_records(fake_provider, provenant_server):
    """instrument() without provenant= records through the default client, even one set later."""
    key = provenant_server.create_api_key()
    client = provenant.instrument(anthropic_client(fake_provider), agent_id="Default Bot")
    try:
        provenant.configure(base_url=provenant_server.url, api_key=key)
        ask(client, "to the default client")
        assert provenant.flush(10)
        [session] = provenant.get_client().list_sessions()
        assert session["agent"]["name"] == "Default Bot"
    finally:
        provenant.shutdown(10)


def test_the_request_is_recorded_as_it_was_sent(client, provenant_client, recorded):
    """The turns are built later, off the caller's thread, from a snapshot of the request."""
    with provenant_client.session("Bot"):
        messages = [{"role": "user", "content": "as sent"}]
        client.messages.create(model=MODEL, max_tokens=9, messages=messages)
        messages.append({"role": "user", "content": "appended after the call"})
        messages[0] = {"role": "user", "content": "replaced after the call"}
    [session] = recorded()
    assert [t["content"] for t in session["turns"]] == ["as sent", "You said: as sent"]
