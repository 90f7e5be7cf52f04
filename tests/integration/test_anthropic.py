"""The instrumented Anthropic client against the fake provider, checked on the local server."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import pytest
from provider_compat import is_provider_stream
from provider_errors import assert_same_provider_error, record_created_errors

import provenant
from provenant._fake_provider import FakeProvider, Reply, ToolCall
from provenant.client import ProvenantClient

MODEL = "claude-test"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_client(mode: str, fake: FakeProvider, **options: Any) -> Any:
    cls = anthropic.AsyncAnthropic if mode == "async" else anthropic.Anthropic
    return cls(base_url=fake.url, api_key="test-key", max_retries=0, **options)


@pytest.fixture
def client(mode: str, fake_provider: FakeProvider, provenant_client: ProvenantClient) -> Any:
    return provenant.instrument(
        make_client(mode, fake_provider), provenant=provenant_client, agent_id="Claude Bot"
    )


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("streamed", [False, True])
def test_create_records_the_reply(client, streamed, fake_provider, recorded, h):
    """A create call records its USER turn and an ASSISTANT turn with text, tokens and metadata."""
    fake_provider.script(Reply(text="Hello there friend", input_tokens=12, output_tokens=3))

    async def body() -> Any:
        result = await h.maybe(
            client.messages.create(model=MODEL, max_tokens=50, messages=ask("Hi"), stream=streamed)
        )
        if streamed:
            assert is_provider_stream(result, anthropic.Stream, anthropic.AsyncStream)
            return await h.drain(result)
        assert type(result) is anthropic.types.Message
        return result

    h.scenario(body, client)
    [session] = recorded()
    assert session["status"] == "COMPLETED"
    assert h.roles(session) == ["USER", "ASSISTANT"]
    user, reply = session["turns"]
    assert user["content"] == "Hi"
    assert reply["content"] == "Hello there friend"
    assert (reply["inputTokens"], reply["outputTokens"]) == (12, 3)
    assert reply["latencyMs"] >= 0
    meta = reply["metadata"]
    assert meta["model"] == MODEL
    assert meta["provider"] == "anthropic"
    assert meta["stopReason"] == "end_turn"
    assert meta["stream"] is streamed
    assert meta["requestId"].startswith("req_")
    if streamed:
        assert meta["timeToFirstTokenMs"] >= 0
        assert meta["streamDurationMs"] >= 0
        assert meta["incomplete"] is False


def test_stream_is_passed_through_chunk_for_chunk(mode, client, fake_provider, h):
    """An instrumented stream yields the same event types and text as an uninstrumented one."""
    raw_client = make_client(mode, fake_provider)
    fake_provider.script(Reply(text="one two three"), Reply(text="one two three"))

    async def body() -> tuple[list[Any], list[Any]]:
        ours = await h.drain(
            await h.maybe(
                client.messages.create(model=MODEL, max_tokens=9, messages=ask("x"), stream=True)
            )
        )
        theirs = await h.drain(
            await h.maybe(
                raw_client.messages.create(
                    model=MODEL, max_tokens=9, messages=ask("x"), stream=True
                )
            )
        )
        return ours, theirs

    ours, theirs = h.scenario(body, client, raw_client)
    assert [(type(e), e.type) for e in ours] == [(type(e), e.type) for e in theirs]
    deltas = [e.delta.model_dump() for e in ours if e.type == "content_block_delta"]
    assert deltas == [e.delta.model_dump() for e in theirs if e.type == "content_block_delta"]


@pytest.mark.parametrize("ending", ["context-exit", "garbage-collected"])
def test_broken_off_stream_is_recorded_incomplete(client, ending, fake_provider, recorded, h):
    """A stream broken off after two events is recorded with what arrived and incomplete: true."""
    fake_provider.script(Reply(text="a b c d e f g h"))

    async def body() -> None:
        stream = await h.maybe(
            client.messages.create(model=MODEL, max_tokens=9, messages=ask("go"), stream=True)
        )
        if ending == "context-exit":
            if hasattr(type(stream), "__anext__"):
                async with stream:
                    assert len(await h.drain(stream, limit=4)) == 4
            else:
                with stream:
                    assert len(await h.drain(stream, limit=4)) == 4
        else:
            assert len(await h.drain(stream, limit=4)) == 4
            del stream
            gc.collect()

    h.scenario(body, client)
    [session] = recorded()
    reply = h.assistant_turns(session)[0]
    assert reply["metadata"]["incomplete"] is True
    assert reply["content"] == "a b"
    assert session["status"] == "COMPLETED"


def test_unconsumed_stream_that_is_closed_is_recorded(client, fake_provider, recorded, h):
    """Closing a stream before reading it records an empty, incomplete ASSISTANT turn."""

    async def body() -> None:
        stream = await h.maybe(
            client.messages.create(model=MODEL, max_tokens=9, messages=ask("go"), stream=True)
        )
        await h.maybe(stream.close())

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT"]
    reply = session["turns"][1]
    assert reply["content"] == ""
    assert reply["metadata"]["incomplete"] is True


@pytest.mark.parametrize("how", ["text_stream", "get_final_message", "until_done"])
def test_stream_helper_is_recorded(client, how, fake_provider, recorded, h):
    """messages.stream(...) is recorded however the caller consumes it."""
    fake_provider.script(Reply(text="streamed by helper", input_tokens=7, output_tokens=3))
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 9, "messages": ask("help")}

    async def body() -> str:
        manager = client.messages.stream(**kwargs)
        if hasattr(manager, "__aenter__"):
            async with manager as stream:
                if how == "text_stream":
                    return "".join([t async for t in stream.text_stream])
                if how == "get_final_message":
                    return str((await stream.get_final_message()).content[0].text)
                await stream.until_done()
                return str(stream.current_message_snapshot.content[0].text)
        with manager as stream:
            if how == "text_stream":
                return "".join(stream.text_stream)
            if how == "get_final_message":
                return str(stream.get_final_message().content[0].text)
            stream.until_done()
            return str(stream.current_message_snapshot.content[0].text)

    assert h.scenario(body, client) == "streamed by helper"
    [session] = recorded()
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == "streamed by helper"
    assert (reply["inputTokens"], reply["outputTokens"]) == (7, 3)
    assert reply["metadata"]["stream"] is True
    assert reply["metadata"]["incomplete"] is False
    assert reply["metadata"]["timeToFirstTokenMs"] >= 0


@pytest.mark.parametrize("streamed", [False, True])
def test_prompt_cache_tokens_count_in_the_input_and_are_kept_beside_it(
    client, streamed, fake_provider, recorded, h
):
    """Anthropic reports cache reads and writes apart from input_tokens: the turn's
    inputTokens is the whole prompt, and the cache's share is in its metadata; a call
    without the cache carries no cache metadata."""
    fake_provider.script(
        Reply(text="cached", input_tokens=12, output_tokens=3, cache_read_tokens=900),
        Reply(text="written", input_tokens=12, output_tokens=3, cache_creation_tokens=700),
        Reply(text="plain", input_tokens=12, output_tokens=3),
    )

    async def body() -> None:
        for question in ("one", "two", "three"):
            result = await h.maybe(
                client.messages.create(
                    model=MODEL, max_tokens=9, messages=ask(question), stream=streamed
                )
            )
            if streamed:
                await h.drain(result)

    h.scenario(body, client)
    replies = [h.assistant_turns(session)[0] for session in recorded()]
    assert [reply["inputTokens"] for reply in replies] == [912, 712, 12]
    assert replies[0]["metadata"]["cacheReadTokens"] == 900
    assert "cacheCreationTokens" not in replies[0]["metadata"]
    assert replies[1]["metadata"]["cacheCreationTokens"] == 700
    assert "cacheReadTokens" not in replies[1]["metadata"]
    assert not {"cacheReadTokens", "cacheCreationTokens"} & set(replies[2]["metadata"])


@pytest.mark.parametrize("streamed", [False, True])
def test_server_tool_calls_are_recorded_among_the_replys_tool_calls(
    client, streamed, fake_provider, recorded, h
):
    """A tool the provider ran itself (web search) is a tool call of the ASSISTANT turn,
    marked type server_tool_use; the turn's text is the answer."""
    search = ToolCall("web_search", {"query": "weather in Paris"}, id="srvtoolu_1")
    fake_provider.script(Reply(text="It is sunny.", server_tool_calls=[search]))

    async def body() -> None:
        result = await h.maybe(
            client.messages.create(
                model=MODEL, max_tokens=20, messages=ask("Weather?"), stream=streamed
            )
        )
        if streamed:
            await h.drain(result)

    h.scenario(body, client)
    reply = h.assistant_turns(recorded()[0])[0]
    assert reply["content"] == "It is sunny."
    assert reply["toolCalls"] == [
        {
            "id": "srvtoolu_1",
            "name": "web_search",
            "arguments": {"query": "weather in Paris"},
            "type": "server_tool_use",
        }
    ]


@pytest.mark.parametrize("how", ["create", "create-stream", "stream-helper"])
def test_extended_thinking_is_kept_in_the_reply_metadata(
    mode, how, fake_provider, provenant_server, h
):
    """A reply's thinking blocks are recorded as metadata.thinking, masked as the text is,
    and left out with capture_content off; the text stays the answer alone."""
    thought = "The user has card 4242; shipping takes 2 days."
    settings: list[dict[str, Any]] = [
        {"mask": lambda value: value.replace("4242", "####") if isinstance(value, str) else value},
        {"capture_content": False},
    ]
    # Each recorder records into an organisation of its own.
    recorders = [
        ProvenantClient(
            base_url=provenant_server.url, api_key=provenant_server.create_api_key(), **options
        )
        for options in settings
    ]
    fake_provider.script(*(Reply(text="Two days.", thinking=thought) for _ in recorders))
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 20, "messages": ask("When?")}

    async def ask_with(client: Any) -> None:
        if how == "stream-helper":
            manager = client.messages.stream(**kwargs)
            if hasattr(manager, "__aenter__"):
                async with manager as stream:
                    await stream.get_final_message()
            else:
                with manager as stream:
                    stream.get_final_message()
        elif how == "create-stream":
            await h.drain(await h.maybe(client.messages.create(stream=True, **kwargs)))
        else:
            await h.maybe(client.messages.create(**kwargs))

    replies = []
    for recorder in recorders:
        client = provenant.instrument(
            make_client(mode, fake_provider), provenant=recorder, agent_id="Thinker"
        )
        h.scenario(lambda client=client: ask_with(client), client)
        assert recorder.flush(10)
        [listed] = recorder.list_sessions()
        replies.append(h.assistant_turns(recorder.get_session(listed["id"]))[0])
        recorder.shutdown(timeout=10)
    masked, uncaptured = replies
    assert masked["content"] == "Two days."
    assert masked["metadata"]["thinking"] == thought.replace("4242", "####")
    assert "thinking" not in uncaptured["metadata"] and uncaptured["content"] == ""


@pytest.mark.parametrize("how", ["create", "create-stream", "stream-helper", "parse"])
@pytest.mark.parametrize("namespace", ["messages", "beta.messages"])
def test_beta_messages_and_parse_are_recorded_once(
    client, namespace, how, fake_provider, recorded, h
):
    """client.beta.messages (the beta features) and messages.parse are recorded as
    messages.create is: one USER and one ASSISTANT turn, with the reply's tokens."""
    resource = client.beta.messages if namespace == "beta.messages" else client.messages
    if how == "parse" and not hasattr(resource, "parse"):
        pytest.skip(f"this anthropic release has no {namespace}.parse")
    fake_provider.script(Reply(text="beta reply", input_tokens=5, output_tokens=2))
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 20, "messages": ask("Beta?")}

    async def body() -> str:
        if how == "stream-helper":
            manager = resource.stream(**kwargs)
            if hasattr(manager, "__aenter__"):
                async with manager as stream:
                    return str((await stream.get_final_message()).content[0].text)
            with manager as stream:
                return str(stream.get_final_message().content[0].text)
        if how == "create-stream":
            events = await h.drain(await h.maybe(resource.create(stream=True, **kwargs)))
            return "".join(
                e.delta.text for e in events if getattr(e, "type", "") == "content_block_delta"
            )
        method = resource.parse if how == "parse" else resource.create
        return str((await h.maybe(method(**kwargs))).content[0].text)

    assert h.scenario(body, client) == "beta reply"
    [session] = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT"]
    reply = h.assistant_turns(session)[0]
    assert (reply["content"], reply["inputTokens"], reply["outputTokens"]) == ("beta reply", 5, 2)
    assert reply["metadata"]["stream"] is how.startswith(("create-stream", "stream-helper"))


@pytest.mark.parametrize("streamed", [False, True])
def test_provider_error_is_reraised_unchanged_and_recorded(
    mode, client, streamed, fake_provider, recorded, h, monkeypatch
):
    """A 500 raises the provider's own exception, as without instrumentation, and ends the
    session FAILED."""
    raw_client = make_client(mode, fake_provider)
    created = record_created_errors(monkeypatch, type(client), type(raw_client))
    fake_provider.script(
        Reply(status=500, error_message="boom"), Reply(status=500, error_message="boom")
    )

    async def failure(target: Any) -> BaseException:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await h.maybe(
                target.messages.create(
                    model=MODEL, max_tokens=9, messages=ask("x"), stream=streamed
                )
            )
        return caught.value

    async def body() -> tuple[BaseException, BaseException]:
        return await failure(client), await failure(raw_client)

    ours, theirs = h.scenario(body, client, raw_client)
    assert type(ours) is anthropic.InternalServerError
    assert_same_provider_error(ours, theirs)
    created.assert_raised_as_created(ours)
    [session] = recorded()
    assert session["status"] == "FAILED"
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == ""
    error = reply["metadata"]["error"]
    assert error["type"] == "InternalServerError"
    assert error["status"] == 500
    assert "boom" in error["message"]


def test_timeout_raises_what_the_provider_raises(
    mode, fake_provider, provenant_client, recorded, h
):
    """A timed-out call raises the same exception type and message as an uninstrumented client."""
    client = provenant.instrument(
        make_client(mode, fake_provider, timeout=0.2), provenant=provenant_client, agent_id="B"
    )
    raw_client = make_client(mode, fake_provider, timeout=0.2)
    fake_provider.script(Reply(delay_s=1.0), Reply(delay_s=1.0))

    async def failure(target: Any) -> BaseException:
        with pytest.raises(anthropic.APITimeoutError) as caught:
            await h.maybe(target.messages.create(model=MODEL, max_tokens=9, messages=ask("x")))
        return caught.value

    async def body() -> tuple[BaseException, BaseException]:
        return await failure(client), await failure(raw_client)

    ours, theirs = h.scenario(body, client, raw_client)
    assert_same_provider_error(ours, theirs)
    [session] = recorded()
    assert h.assistant_turns(session)[0]["metadata"]["error"]["type"] == "APITimeoutError"


def test_tool_round_trip_records_each_step_once(
    client, fake_provider, provenant_client, recorded, h
):
    """A tool round trip records USER, ASSISTANT with the tool call, TOOL, ASSISTANT."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_1")]),
        Reply(text="It is sunny in Paris."),
    )
    messages: list[Any] = ask("Weather in Paris?")

    async def body() -> None:
        async with provenant_client.session("Claude Bot"):
            first = await h.maybe(
                client.messages.create(model=MODEL, max_tokens=50, messages=messages)
            )
            messages.append({"role": "assistant", "content": first.content})
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
                    ],
                }
            )
            await h.maybe(client.messages.create(model=MODEL, max_tokens=50, messages=messages))

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    call_turn, tool_turn = session["turns"][1], session["turns"][2]
    assert call_turn["toolCalls"] == [
        {"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert call_turn["metadata"]["stopReason"] == "tool_use"
    assert tool_turn["content"] == "sunny"
    assert tool_turn["metadata"]["toolCallId"] == "toolu_1"
    assert session["turns"][3]["content"] == "It is sunny in Paris."


def test_ten_exchanges_record_ten_user_and_ten_assistant_turns(
    client, provenant_client, recorded, h
):
    """A 10-exchange conversation resending its history records 10 USER and 10 ASSISTANT turns."""
    messages: list[Any] = []

    async def body() -> None:
        async with provenant_client.session("Claude Bot"):
            for i in range(10):
                messages.append({"role": "user", "content": "yes" if i % 2 else f"question {i}"})
                reply = await h.maybe(
                    client.messages.create(
                        model=MODEL, max_tokens=50, messages=messages, system="Be brief."
                    )
                )
                messages.append({"role": "assistant", "content": reply.content[0].text})

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["SYSTEM"] + ["USER", "ASSISTANT"] * 10
    users = [t["content"] for t in session["turns"] if t["role"] == "USER"]
    assert users == ["yes" if i % 2 else f"question {i}" for i in range(10)]


def test_system_prompt_is_recorded_once_and_again_when_it_changes(
    client, provenant_client, recorded, h
):
    """The system prompt is a SYSTEM turn on the first call and again only when it changes."""
    messages: list[Any] = []

    async def body() -> None:
        async with provenant_client.session("Claude Bot"):
            for system in ("A", "A", "B", "B"):
                messages.append({"role": "user", "content": f"q{len(messages)}"})
                reply = await h.maybe(
                    client.messages.create(
                        model=MODEL, max_tokens=9, messages=messages, system=system
                    )
                )
                messages.append({"role": "assistant", "content": reply.content})

    h.scenario(body, client)
    [session] = recorded()
    systems = [t["content"] for t in session["turns"] if t["role"] == "SYSTEM"]
    assert systems == ["A", "B"]
    assert h.roles(session).count("USER") == 4


def test_images_are_summarised_not_inlined(client, recorded, h):
    """A base64 image in a user message is recorded as a summary without its data."""
    data = "iVBORw0KGgo" * 100
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
    ]

    async def body() -> None:
        await h.maybe(
            client.messages.create(
                model=MODEL, max_tokens=9, messages=[{"role": "user", "content": content}]
            )
        )

    h.scenario(body, client)
    [session] = recorded()
    user = session["turns"][0]["content"]
    assert user[0] == {"type": "text", "text": "What is this?"}
    assert user[1] == {
        "type": "image",
        "sourceType": "base64",
        "mediaType": "image/png",
        "dataLength": len(data),
    }
    assert data not in str(session)


def test_raw_response_keeps_working_and_is_recorded(client, recorded, h):
    """with_raw_response.create returns the SDK's raw response, whose parse() still works."""

    async def body() -> Any:
        raw = await h.maybe(
            client.messages.with_raw_response.create(model=MODEL, max_tokens=9, messages=ask("raw"))
        )
        assert raw.headers["request-id"].startswith("req_")
        message = await h.maybe(raw.parse())
        assert type(message) is anthropic.types.Message
        return message

    message = h.scenario(body, client)
    [session] = recorded()
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == message.content[0].text == "You said: raw"


def test_error_event_mid_stream_is_reraised_and_recorded(
    mode, client, fake_provider, recorded, h, monkeypatch
):
    """An error event mid-stream raises the provider's own exception, as without the SDK; the
    partial reply is recorded failed."""
    raw_client = make_client(mode, fake_provider)
    created = record_created_errors(monkeypatch, type(client), type(raw_client))
    broken = Reply(text="partial answer here", stream_error_after=4, error_message="Overloaded")
    fake_provider.script(broken, broken)

    async def failure(target: Any) -> tuple[BaseException, int]:
        seen = 0
        with pytest.raises(anthropic.APIStatusError) as caught:
            stream = await h.maybe(
                target.messages.create(model=MODEL, max_tokens=9, messages=ask("x"), stream=True)
            )
            if hasattr(type(stream), "__anext__"):
                async for _ in stream:
                    seen += 1
            else:
                for _ in stream:
                    seen += 1
        return caught.value, seen

    async def body() -> tuple[Any, Any]:
        return await failure(client), await failure(raw_client)

    (ours, ours_seen), (theirs, theirs_seen) = h.scenario(body, client, raw_client)
    assert_same_provider_error(ours, theirs)
    created.assert_raised_as_created(ours)
    assert ours_seen == theirs_seen
    [session] = recorded()
    assert session["status"] == "FAILED"
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == "partial"
    assert reply["metadata"]["incomplete"] is True
    assert reply["metadata"]["error"]["message"]
