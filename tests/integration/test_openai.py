"""The instrumented OpenAI client (Chat Completions, Responses) against the fake provider."""

from __future__ import annotations

import inspect
import json
from typing import Any

import openai
import pytest
from provider_errors import assert_same_provider_error, record_created_errors
from pydantic import BaseModel

import provenant
from provenant._fake_provider import FakeProvider, Reply, ToolCall
from provenant.client import ProvenantClient

MODEL = "gpt-test"


def require(resource: Any, name: str, call: str) -> None:
    """Skip the test on a provider SDK release whose ``resource`` has no ``name``."""
    if not hasattr(resource, name):
        pytest.skip(f"this openai release has no {call}")


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_client(mode: str, fake: FakeProvider, **options: Any) -> Any:
    cls = openai.AsyncOpenAI if mode == "async" else openai.OpenAI
    return cls(base_url=fake.openai_base_url, api_key="test-key", max_retries=0, **options)


@pytest.fixture
def client(mode: str, fake_provider: FakeProvider, provenant_client: ProvenantClient) -> Any:
    return provenant.instrument(
        make_client(mode, fake_provider), provenant=provenant_client, agent_id="GPT Bot"
    )


def chat(*texts: str, system: str = "You are terse.") -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}] + [{"role": "user", "content": t} for t in texts]


# -- Chat Completions -------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
def test_chat_create_records_the_reply(client, streamed, fake_provider, recorded, h):
    """chat.completions.create records SYSTEM, USER and an ASSISTANT turn with its metadata."""
    fake_provider.script(Reply(text="Hi back", input_tokens=9, output_tokens=2))
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if streamed else {}

    async def body() -> Any:
        result = await h.maybe(
            client.chat.completions.create(
                model=MODEL, messages=chat("Hi"), stream=streamed, **extra
            )
        )
        if streamed:
            assert isinstance(result, (openai.Stream, openai.AsyncStream))
            return await h.drain(result)
        assert type(result) is openai.types.chat.ChatCompletion
        return result

    h.scenario(body, client)
    [session] = recorded()
    assert session["status"] == "COMPLETED"
    assert h.roles(session) == ["SYSTEM", "USER", "ASSISTANT"]
    reply = session["turns"][2]
    assert reply["content"] == "Hi back"
    assert (reply["inputTokens"], reply["outputTokens"]) == (9, 2)
    meta = reply["metadata"]
    assert (meta["model"], meta["provider"], meta["stopReason"]) == (MODEL, "openai", "stop")
    assert meta["stream"] is streamed
    assert meta["requestId"].startswith("req_")
    if streamed:
        assert meta["timeToFirstTokenMs"] >= 0
        assert meta["incomplete"] is False


def test_chat_stream_without_usage_is_left_as_it_is(client, fake_provider, recorded, h):
    """By default a chat stream is requested unchanged, so its tokens are unknown."""

    async def body() -> list[Any]:
        stream = await h.maybe(
            client.chat.completions.create(model=MODEL, messages=chat("Hi"), stream=True)
        )
        return await h.drain(stream)

    h.scenario(body, client)
    [request] = fake_provider.received("chat")
    assert "stream_options" not in request.body
    [session] = recorded()
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == "You said: Hi"
    assert reply["inputTokens"] is None


def test_stream_usage_asks_for_usage_and_hides_the_extra_chunk(
    mode, fake_provider, provenant_client, recorded, h
):
    """With stream_usage=True the tokens are recorded and the caller sees only its own chunks."""
    client = provenant.instrument(
        make_client(mode, fake_provider),
        provenant=provenant_client,
        agent_id="GPT Bot",
        stream_usage=True,
    )
    raw_client = make_client(mode, fake_provider)
    fake_provider.script(Reply(text="a b c", input_tokens=4, output_tokens=3), Reply(text="a b c"))

    async def body() -> tuple[list[Any], list[Any]]:
        ours = await h.drain(
            await h.maybe(
                client.chat.completions.create(model=MODEL, messages=chat("x"), stream=True)
            )
        )
        theirs = await h.drain(
            await h.maybe(
                raw_client.chat.completions.create(model=MODEL, messages=chat("x"), stream=True)
            )
        )
        return ours, theirs

    ours, theirs = h.scenario(body, client, raw_client)
    assert [c.choices[0].delta.content for c in ours] == [
        c.choices[0].delta.content for c in theirs
    ]
    assert all(c.usage is None for c in ours)
    first, _ = fake_provider.received("chat")
    assert first.body["stream_options"] == {"include_usage": True}
    [session] = recorded()
    reply = h.assistant_turns(session)[0]
    assert (reply["inputTokens"], reply["outputTokens"]) == (4, 3)


def test_broken_off_chat_stream_is_recorded_incomplete(client, fake_provider, recorded, h):
    """A chat stream closed after two chunks is recorded with incomplete: true."""
    fake_provider.script(Reply(text="one two three four five"))

    async def body() -> None:
        stream = await h.maybe(
            client.chat.completions.create(model=MODEL, messages=chat("go"), stream=True)
        )
        assert len(await h.drain(stream, limit=2)) == 2
        await h.maybe(stream.close())

    h.scenario(body, client)
    [session] = recorded()
    reply = h.assistant_turns(session)[0]
    assert reply["metadata"]["incomplete"] is True
    assert reply["content"] == "one"


@pytest.mark.parametrize("streamed", [False, True])
def test_chat_tool_round_trip(client, streamed, fake_provider, provenant_client, recorded, h):
    """A chat tool round trip records USER, ASSISTANT with the tool call, TOOL, ASSISTANT."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("lookup", {"order": 42}, id="call_1")]),
        Reply(text="Order 42 has shipped."),
    )
    messages: list[Any] = chat("Where is order 42?")

    async def body() -> None:
        async with provenant_client.session("GPT Bot"):
            result = await h.maybe(
                client.chat.completions.create(model=MODEL, messages=messages, stream=streamed)
            )
            if streamed:
                await h.drain(result)
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"order": 42}'},
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": "call_1", "content": "shipped"})
            result = await h.maybe(
                client.chat.completions.create(model=MODEL, messages=messages, stream=streamed)
            )
            if streamed:
                await h.drain(result)

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["SYSTEM", "USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    call_turn = session["turns"][2]
    assert call_turn["toolCalls"] == [
        {"id": "call_1", "name": "lookup", "arguments": {"order": 42}}
    ]
    assert call_turn["metadata"]["stopReason"] == "tool_calls"
    assert session["turns"][3]["content"] == "shipped"
    assert session["turns"][4]["content"] == "Order 42 has shipped."


def test_chat_parse_is_recorded(client, fake_provider, recorded, h):
    """chat.completions.parse returns the parsed model and is recorded."""
    require(client.chat.completions, "parse", "chat.completions.parse")

    class Answer(BaseModel):
        answer: str

    fake_provider.script(Reply(text=json.dumps({"answer": "42"})))

    async def body() -> Any:
        return await h.maybe(
            client.chat.completions.parse(model=MODEL, messages=chat("Q?"), response_format=Answer)
        )

    completion = h.scenario(body, client)
    assert completion.choices[0].message.parsed == Answer(answer="42")
    [session] = recorded()
    # The wire returns JSON-looking content decoded (provenant-api.md: JSON-string columns).
    assert h.assistant_turns(session)[0]["content"] in ('{"answer": "42"}', {"answer": "42"})


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("streamed", [False, True])
def test_cached_and_reasoning_tokens_are_kept_beside_the_counts(
    client, api, streamed, fake_provider, recorded, h
):
    """OpenAI counts cached tokens within the input and reasoning tokens within the
    output: the counts stay whole and each share is in the metadata (none when zero)."""
    fake_provider.script(
        Reply(
            text="cached",
            input_tokens=20,
            output_tokens=50,
            cache_read_tokens=1000,
            reasoning_tokens=45,
        ),
        Reply(text="plain", input_tokens=20, output_tokens=2),
    )

    async def one(question: str) -> None:
        if api == "chat":
            extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if streamed else {}
            result = await h.maybe(
                client.chat.completions.create(
                    model=MODEL, messages=chat(question), stream=streamed, **extra
                )
            )
        else:
            result = await h.maybe(
                client.responses.create(model=MODEL, input=question, stream=streamed)
            )
        if streamed:
            await h.drain(result)

    async def body() -> None:
        await one("first")
        await one("second")

    h.scenario(body, client)
    cached, plain = (h.assistant_turns(session)[0] for session in recorded())
    assert (cached["inputTokens"], cached["metadata"]["cacheReadTokens"]) == (1020, 1000)
    assert (cached["outputTokens"], cached["metadata"]["reasoningTokens"]) == (50, 45)
    assert "cacheCreationTokens" not in cached["metadata"]
    assert plain["inputTokens"] == 20
    assert not {"cacheReadTokens", "reasoningTokens"} & set(plain["metadata"])


@pytest.mark.parametrize("streamed", [False, True])
def test_several_choices_record_the_first_and_say_how_many(
    client, streamed, fake_provider, recorded, h
):
    """With n > 1 the first choice is the ASSISTANT turn (its text alone, though a stream
    interleaves the choices' chunks) and metadata.choices counts them all."""
    fake_provider.script(Reply(text="Paris is the capital"))

    async def body() -> Any:
        result = await h.maybe(
            client.chat.completions.create(model=MODEL, messages=chat("Q?"), n=3, stream=streamed)
        )
        if not streamed:
            return [choice.message.content for choice in result.choices]
        texts: dict[int, str] = {}
        for chunk in await h.drain(result):
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
        return [texts[index] for index in sorted(texts)]

    assert h.scenario(body, client) == [
        "Paris is the capital",
        "Paris is the capital (2)",
        "Paris is the capital (3)",
    ]
    reply = h.assistant_turns(recorded()[0])[0]
    assert (reply["content"], reply["metadata"]["choices"]) == ("Paris is the capital", 3)


@pytest.mark.parametrize("call", ["beta.chat.completions.create", "beta.chat.completions.parse"])
def test_beta_chat_completions_are_recorded_once(client, call, fake_provider, recorded, h):
    """The beta namespace's chat completions (a resource of its own in newer SDKs) are
    recorded like chat.completions, once each."""
    resource = client.beta.chat.completions
    require(resource, call.rsplit(".", 1)[1], call)
    fake_provider.script(Reply(text="from beta", input_tokens=4, output_tokens=2))

    async def body() -> Any:
        method = getattr(resource, call.rsplit(".", 1)[1])
        return await h.maybe(method(model=MODEL, messages=chat("Beta?")))

    completion = h.scenario(body, client)
    assert completion.choices[0].message.content == "from beta"
    [session] = recorded()
    assert h.roles(session) == ["SYSTEM", "USER", "ASSISTANT"]
    reply = h.assistant_turns(session)[0]
    assert (reply["content"], reply["inputTokens"], reply["outputTokens"]) == ("from beta", 4, 2)


@pytest.mark.parametrize("status", [500, 429])
@pytest.mark.parametrize("streamed", [False, True])
def test_chat_error_is_reraised_unchanged_and_recorded(
    mode, client, status, streamed, fake_provider, recorded, h, monkeypatch
):
    """A provider error raises the provider's own exception, as without instrumentation, and
    is recorded."""
    raw_client = make_client(mode, fake_provider)
    created = record_created_errors(monkeypatch, type(client), type(raw_client))
    fake_provider.script(*[Reply(status=status, error_message="nope")] * 2)

    async def failure(target: Any) -> BaseException:
        with pytest.raises(openai.APIStatusError) as caught:
            await h.maybe(
                target.chat.completions.create(model=MODEL, messages=chat("x"), stream=streamed)
            )
        return caught.value

    async def body() -> tuple[BaseException, BaseException]:
        return await failure(client), await failure(raw_client)

    ours, theirs = h.scenario(body, client, raw_client)
    assert_same_provider_error(ours, theirs)
    created.assert_raised_as_created(ours)
    [session] = recorded()
    assert session["status"] == "FAILED"
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == ""
    assert reply["metadata"]["error"]["status"] == status
    assert reply["metadata"]["error"]["type"] == type(theirs).__name__


def test_chat_timeout_raises_what_the_provider_raises(
    mode, fake_provider, provenant_client, recorded, h
):
    """A timed-out chat call raises the exception type and message of an uninstrumented one."""
    client = provenant.instrument(
        make_client(mode, fake_provider, timeout=0.2), provenant=provenant_client, agent_id="B"
    )
    raw_client = make_client(mode, fake_provider, timeout=0.2)
    fake_provider.script(Reply(delay_s=1.0), Reply(delay_s=1.0))

    async def failure(target: Any) -> BaseException:
        with pytest.raises(openai.APITimeoutError) as caught:
            await h.maybe(target.chat.completions.create(model=MODEL, messages=chat("x")))
        return caught.value

    async def body() -> tuple[BaseException, BaseException]:
        return await failure(client), await failure(raw_client)

    ours, theirs = h.scenario(body, client, raw_client)
    assert_same_provider_error(ours, theirs)
    [session] = recorded()
    assert session["status"] == "FAILED"


def test_chat_raw_response_keeps_working(client, recorded, h):
    """chat.completions.with_raw_response.create still returns the raw response and is recorded."""

    async def body() -> Any:
        raw = await h.maybe(
            client.chat.completions.with_raw_response.create(model=MODEL, messages=chat("raw"))
        )
        return await h.maybe(raw.parse())

    completion = h.scenario(body, client)
    assert type(completion) is openai.types.chat.ChatCompletion
    [session] = recorded()
    assert h.assistant_turns(session)[0]["content"] == "You said: raw"


def test_image_urls_are_summarised(client, recorded, h):
    """A data: image URL in a chat message is recorded as its media type and size only."""
    url = "data:image/jpeg;base64," + "A" * 500
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": url}},
    ]

    async def body() -> None:
        await h.maybe(
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": content}]
            )
        )

    h.scenario(body, client)
    [session] = recorded()
    assert session["turns"][0]["content"][1] == {
        "type": "image_url",
        "mediaType": "image/jpeg",
        "dataLength": len(url),
    }


# -- Responses --------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
def test_responses_create_records_the_reply(client, streamed, fake_provider, recorded, h):
    """responses.create records instructions as SYSTEM, the input as USER and the reply."""
    fake_provider.script(Reply(text="Responses reply", input_tokens=6, output_tokens=2))

    async def body() -> Any:
        result = await h.maybe(
            client.responses.create(
                model=MODEL, instructions="Be kind.", input="Hello", stream=streamed
            )
        )
        if streamed:
            return await h.drain(result)
        assert type(result) is openai.types.responses.Response
        return result

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["SYSTEM", "USER", "ASSISTANT"]
    assert [t["content"] for t in session["turns"]] == ["Be kind.", "Hello", "Responses reply"]
    reply = session["turns"][2]
    assert (reply["inputTokens"], reply["outputTokens"]) == (6, 2)
    assert reply["metadata"]["stopReason"] == "completed"
    assert reply["metadata"]["stream"] is streamed
    if streamed:
        assert reply["metadata"]["timeToFirstTokenMs"] >= 0
        assert reply["metadata"]["incomplete"] is False


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_helpers_are_recorded_once_through_create(client, api, fake_provider, recorded, h):
    """chat.completions.stream(...) and responses.stream(...) open their stream with
    create(stream=True): recorded through it, once, with the streamed reply."""
    require(client.chat.completions, "stream", "chat.completions.stream")
    fake_provider.script(Reply(text="helped along", input_tokens=3, output_tokens=2))
    if api == "chat":
        manager = client.chat.completions.stream(model=MODEL, messages=chat("Help?"))
    else:
        manager = client.responses.stream(model=MODEL, input="Help?")

    async def body() -> None:
        if hasattr(manager, "__aenter__"):
            async with manager as stream:
                async for _ in stream:
                    pass
        else:
            with manager as stream:
                for _ in stream:
                    pass

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session)[-2:] == ["USER", "ASSISTANT"]
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == "helped along" and reply["metadata"]["stream"] is True


@pytest.mark.parametrize("streamed", [False, True])
def test_a_reasoning_summary_is_kept_as_the_replys_thinking(
    client, streamed, fake_provider, recorded, h
):
    """A Responses reasoning item's summary is the ASSISTANT turn's metadata.thinking;
    the turn's text is the answer alone."""
    fake_provider.script(Reply(text="Four.", thinking="Two and two make four."))

    async def body() -> None:
        result = await h.maybe(client.responses.create(model=MODEL, input="2+2?", stream=streamed))
        if streamed:
            await h.drain(result)

    h.scenario(body, client)
    reply = h.assistant_turns(recorded()[0])[0]
    assert (reply["content"], reply["metadata"]["thinking"]) == ("Four.", "Two and two make four.")


def test_responses_parse_is_recorded(client, fake_provider, recorded, h):
    """responses.parse returns the parsed model and is recorded, once."""
    require(client.responses, "parse", "responses.parse")

    class Answer(BaseModel):
        answer: str

    fake_provider.script(Reply(text=json.dumps({"answer": "7"}), input_tokens=6, output_tokens=3))

    async def body() -> Any:
        return await h.maybe(client.responses.parse(model=MODEL, input="Q?", text_format=Answer))

    response = h.scenario(body, client)
    assert response.output_parsed == Answer(answer="7")
    [session] = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT"]
    reply = h.assistant_turns(session)[0]
    assert reply["content"] in ('{"answer": "7"}', {"answer": "7"})
    assert (reply["inputTokens"], reply["outputTokens"]) == (6, 3)


@pytest.mark.parametrize("conversation", ["conv_1", {"id": "conv_1"}], ids=["id", "object"])
def test_responses_in_a_server_side_conversation_record_each_input_once(
    client, conversation, fake_provider, provenant_client, recorded, h
):
    """With conversation=, the server keeps the history and each input is new: a "yes"
    said twice is recorded twice, while a call retried after an error is not."""
    if "conversation" not in inspect.signature(type(client.responses).create).parameters:
        pytest.skip("this openai release has no responses.create(conversation=)")
    fake_provider.script(
        Reply(text="Shall we?"),
        Reply(text="Step one done."),
        Reply(status=500),
        Reply(text="Step two done."),
        Reply(text="All done."),
    )

    async def body() -> None:
        for text in ("Start", "yes", "yes", "yes"):
            try:
                await h.maybe(
                    client.responses.create(model=MODEL, input=text, conversation=conversation)
                )
            except openai.InternalServerError:  # the app retries the call once
                await h.maybe(
                    client.responses.create(model=MODEL, input=text, conversation=conversation)
                )

    with provenant_client.session("GPT Bot"):
        h.scenario(body, client)
    [session] = recorded()
    turns = [(turn["role"], turn["content"]) for turn in session["turns"]]
    assert turns == [
        ("USER", "Start"),
        ("ASSISTANT", "Shall we?"),
        ("USER", "yes"),
        ("ASSISTANT", "Step one done."),
        ("USER", "yes"),
        ("ASSISTANT", ""),  # the error, recorded
        ("ASSISTANT", "Step two done."),  # the retry: its input was recorded already
        ("USER", "yes"),
        ("ASSISTANT", "All done."),
    ]


def test_responses_function_call_round_trip(client, fake_provider, provenant_client, recorded, h):
    """A Responses function call and its function_call_output record ASSISTANT and TOOL turns."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("add", {"a": 1, "b": 2}, id="call_9")]),
        Reply(text="3"),
    )
    items: list[Any] = [{"role": "user", "content": "1+2?"}]

    async def body() -> None:
        async with provenant_client.session("GPT Bot"):
            first = await h.maybe(client.responses.create(model=MODEL, input=items))
            items.extend(item.model_dump(exclude_none=True) for item in first.output)
            items.append({"type": "function_call_output", "call_id": "call_9", "output": "3"})
            await h.maybe(client.responses.create(model=MODEL, input=items))

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    assert session["turns"][1]["toolCalls"] == [
        {"id": "call_9", "name": "add", "arguments": {"a": 1, "b": 2}}
    ]
    assert session["turns"][2]["metadata"]["toolCallId"] == "call_9"


def test_previous_response_id_input_is_all_new(client, provenant_client, recorded, h):
    """With previous_response_id, a repeated input such as "yes" is still recorded each time."""

    async def body() -> None:
        async with provenant_client.session("GPT Bot"):
            previous = None
            for _ in range(3):
                kwargs: dict[str, Any] = {"previous_response_id": previous} if previous else {}
                response = await h.maybe(
                    client.responses.create(model=MODEL, input="yes", **kwargs)
                )
                previous = response.id

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT"] * 3


def test_streaming_response_and_stream_helpers_keep_working(mode, client, fake_provider, h):
    """with_streaming_response and the chat/responses .stream() helpers work as without the SDK."""
    require(client.chat.completions, "stream", "chat.completions.stream")

    async def body() -> tuple[str, str, str]:
        if mode == "async":
            async with client.chat.completions.with_streaming_response.create(
                model=MODEL, messages=chat("a")
            ) as response:
                first = (await response.parse()).choices[0].message.content
            async with client.chat.completions.stream(model=MODEL, messages=chat("b")) as stream:
                second = (await stream.get_final_completion()).choices[0].message.content
            async with client.responses.stream(model=MODEL, input="c") as events:
                third = (await events.get_final_response()).output_text
            return first, second, third
        with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=chat("a")
        ) as response:
            first = response.parse().choices[0].message.content
        with client.chat.completions.stream(model=MODEL, messages=chat("b")) as stream:
            second = stream.get_final_completion().choices[0].message.content
        with client.responses.stream(model=MODEL, input="c") as events:
            third = events.get_final_response().output_text
        return first, second, third

    assert h.scenario(body, client) == ("You said: a", "You said: b", "You said: c")


def test_a_traced_tools_json_result_is_not_recorded_twice(
    client, fake_provider, provenant_client, recorded, h
):
    """A traced tool's result sent back as a JSON tool message is not recorded a second time."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("stock", {"sku": "A1"}, id="call_5")]),
        Reply(text="In stock."),
    )

    @provenant_client.trace(kind="tool")
    def stock(sku: str) -> dict[str, Any]:
        return {"sku": sku, "count": 3}

    messages: list[Any] = chat("Is A1 in stock?")

    async def body() -> None:
        async with provenant_client.session("GPT Bot"):
            first = await h.maybe(client.chat.completions.create(model=MODEL, messages=messages))
            call = first.choices[0].message.tool_calls[0]
            result = stock(**json.loads(call.function.arguments))
            messages.append(first.choices[0].message)
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
            await h.maybe(client.chat.completions.create(model=MODEL, messages=messages))

    h.scenario(body, client)
    [session] = recorded()
    assert h.roles(session) == ["SYSTEM", "USER", "ASSISTANT", "TOOL", "ASSISTANT"]


def test_stream_usage_leaves_unrecorded_streams_unchanged(mode, fake_provider, provenant_server, h):
    """With tracing disabled, stream_usage=True neither asks for usage nor changes the chunks."""
    quiet = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_server.create_api_key(), enabled=False
    )
    client = provenant.instrument(
        make_client(mode, fake_provider), provenant=quiet, agent_id="B", stream_usage=True
    )

    async def body() -> list[Any]:
        stream = await h.maybe(
            client.chat.completions.create(model=MODEL, messages=chat("x"), stream=True)
        )
        return await h.drain(stream)

    try:
        chunks = h.scenario(body, client)
    finally:
        quiet.shutdown(5)
    assert all(chunk.choices for chunk in chunks)
    [request] = fake_provider.received("chat")
    assert "stream_options" not in request.body
