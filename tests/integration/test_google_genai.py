"""The instrumented Google GenAI client (models, aio.models, chats) against the fake provider."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest

# google-genai needs Python 3.11 (the dev extra installs it only there).
genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

import provenant  # noqa: E402
from provenant._fake_provider import FakeProvider, Reply, ToolCall  # noqa: E402
from provenant.client import ProvenantClient  # noqa: E402

MODEL = "gemini-test"
T = TypeVar("T")


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_client(fake: FakeProvider) -> genai.Client:
    return genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url=fake.url, retry_options=None)
    )


@pytest.fixture
def raw_client(fake_provider: FakeProvider) -> Iterator[genai.Client]:
    client = make_client(fake_provider)
    yield client
    client.close()


@pytest.fixture
def client(raw_client: genai.Client, provenant_client: ProvenantClient) -> genai.Client:
    return provenant.instrument(raw_client, provenant=provenant_client, agent_id="Gemini Bot")


def run(h: Any, body: Callable[[], Awaitable[T]], *clients: genai.Client) -> T:
    """Run a scenario, then close the clients' async sessions on its loop."""

    async def closing() -> T:
        try:
            return await body()
        finally:
            for client in clients:
                await client.aio.aclose()

    return h.scenario(closing)  # type: ignore[no-any-return]


def models(client: genai.Client, mode: str) -> Any:
    return client.aio.models if mode == "async" else client.models


async def generate(client: genai.Client, mode: str, streamed: bool, h: Any, **kwargs: Any) -> Any:
    """One call; a stream is read to its end. Returns the reply's text."""
    target = models(client, mode)
    if not streamed:
        return (await h.maybe(target.generate_content(model=MODEL, **kwargs))).text
    stream = await h.maybe(target.generate_content_stream(model=MODEL, **kwargs))
    return "".join(chunk.text or "" for chunk in await h.drain(stream))


@pytest.mark.parametrize("streamed", [False, True])
def test_generate_content_records_the_reply(client, mode, streamed, fake_provider, recorded, h):
    """generate_content(_stream) records SYSTEM, USER and an ASSISTANT turn with the model,
    finish reason, usage (cached and thinking tokens included) and the thinking."""
    fake_provider.script(
        Reply(
            text="Hi back",
            input_tokens=9,
            output_tokens=2,
            cache_read_tokens=4,
            reasoning_tokens=5,
            thinking="The user greets me.",
        )
    )
    config = types.GenerateContentConfig(system_instruction="You are terse.")
    text = run(h, lambda: generate(client, mode, streamed, h, contents="Hi", config=config), client)
    assert text == "Hi back"
    (session,) = recorded()
    assert h.roles(session) == ["SYSTEM", "USER", "ASSISTANT"]
    system, user, reply = session["turns"]
    assert (system["content"], user["content"], reply["content"]) == (
        "You are terse.",
        "Hi",
        "Hi back",
    )
    assert (reply["inputTokens"], reply["outputTokens"]) == (13, 7)
    metadata = reply["metadata"]
    assert metadata["provider"] == "google"
    assert metadata["model"] == MODEL
    assert metadata["stopReason"] == "STOP"
    assert metadata["cacheReadTokens"] == 4
    assert metadata["reasoningTokens"] == 5
    assert metadata["thinking"] == "The user greets me."
    assert metadata["stream"] is streamed
    if streamed:
        assert metadata["incomplete"] is False
        assert metadata["timeToFirstTokenMs"] >= 0


def test_a_ten_exchange_chat_records_ten_user_and_ten_assistant_turns(
    client, provenant_client, recorded, h
):
    """A chats session resends its history on every call; each message is recorded once."""
    chat = client.chats.create(
        model=MODEL, config=types.GenerateContentConfig(system_instruction="Be brief.")
    )
    with provenant_client.session("Gemini Bot"):
        for index in range(10):
            if index % 2:
                assert "".join(c.text or "" for c in chat.send_message_stream(f"q{index}"))
            else:
                assert chat.send_message(f"q{index}").text == f"You said: q{index}"
    (session,) = recorded()
    assert h.roles(session) == ["SYSTEM"] + ["USER", "ASSISTANT"] * 10
    assert [t["content"] for t in session["turns"] if t["role"] == "USER"] == [
        f"q{i}" for i in range(10)
    ]


def test_an_async_chat_records_each_message_once(client, provenant_client, recorded, h):
    """client.aio.chats sessions are recorded like the sync ones."""

    async def body() -> None:
        chat = client.aio.chats.create(model=MODEL)
        async with provenant_client.session("Gemini Bot"):
            for index in range(3):
                await chat.send_message(f"a{index}")

    run(h, body, client)
    (session,) = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT"] * 3


@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_round_trip(client, mode, streamed, fake_provider, provenant_client, recorded, h):
    """USER, ASSISTANT with the function call as toolCalls, TOOL with the function's
    response, ASSISTANT."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="fc_1")]),
        Reply(text="It is sunny."),
    )
    question = types.Content(role="user", parts=[types.Part.from_text(text="Weather?")])

    async def body() -> None:
        with provenant_client.session("Gemini Bot"):
            target = models(client, mode)
            first = await h.maybe(target.generate_content(model=MODEL, contents=[question]))
            call = first.function_calls[0]
            answer = types.Part.from_function_response(name=call.name, response={"temperature": 21})
            answer.function_response.id = call.id
            contents = [
                question,
                first.candidates[0].content,
                types.Content(role="user", parts=[answer]),
            ]
            assert await generate(client, mode, streamed, h, contents=contents) == "It is sunny."

    run(h, body, client)
    (session,) = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    _, asked, tool, last = session["turns"]
    assert asked["toolCalls"] == [
        {"id": "fc_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert tool["content"] == {"temperature": 21}
    assert tool["metadata"]["toolCallId"] == "fc_1"
    assert last["content"] == "It is sunny."


def test_a_stream_broken_off_early_is_recorded_incomplete(client, mode, fake_provider, recorded, h):
    """A stream the caller stops reading is recorded with what arrived, incomplete."""
    fake_provider.script(Reply(text="one two three four five"))

    async def body() -> None:
        stream = await h.maybe(
            models(client, mode).generate_content_stream(model=MODEL, contents="count")
        )
        chunks = await h.drain(stream, limit=2)
        assert [c.text for c in chunks] == ["one", " two"]
        await h.maybe(stream.aclose() if mode == "async" else stream.close())

    run(h, body, client)
    (session,) = recorded()
    reply = h.assistant_turns(session)[0]
    assert reply["content"] == "one two"
    assert reply["metadata"]["incomplete"] is True


@pytest.mark.parametrize("streamed", [False, True])
def test_provider_errors_are_reraised_unchanged_and_recorded(
    client, raw_client, mode, streamed, fake_provider, recorded, h
):
    """A 400 raises the SDK's own ClientError, its code, status and message as without
    instrumentation, and is recorded with the error."""
    fake_provider.script(*[Reply(status=400, error_message="Bad contents")] * 2)

    async def failure(target: genai.Client) -> errors.APIError:
        with pytest.raises(errors.APIError) as caught:
            await generate(target, mode, streamed, h, contents="x")
        return caught.value

    uninstrumented = make_client(fake_provider)

    async def body() -> tuple[errors.APIError, errors.APIError]:
        return await failure(client), await failure(uninstrumented)

    ours, theirs = run(h, body, client, uninstrumented)
    uninstrumented.close()
    assert type(ours) is type(theirs) is errors.ClientError
    assert (ours.code, ours.status, ours.message, ours.details) == (
        theirs.code,
        theirs.status,
        theirs.message,
        theirs.details,
    )
    (session,) = recorded()
    assert session["status"] == "FAILED"
    error = h.assistant_turns(session)[0]["metadata"]["error"]
    assert error == {"type": "ClientError", "status": 400, "message": "Bad contents"}


def test_process_wide_instrumentation_records_every_genai_client(
    fake_provider, provenant_client, recorded, h
):
    """instrument() records a Client created afterwards, sync and async, and its chats."""
    provenant.instrument(provenant=provenant_client, agent_id="Everyone")
    try:
        client = make_client(fake_provider)
        client.models.generate_content(model=MODEL, contents="sync")
        client.chats.create(model=MODEL).send_message("chat")

        async def body() -> None:
            await client.aio.models.generate_content(model=MODEL, contents="async")

        run(h, body, client)
        client.close()
    finally:
        provenant.uninstrument()
    sessions = recorded()
    assert [s["turns"][0]["content"] for s in sessions] == ["sync", "chat", "async"]
    assert all(h.roles(s) == ["USER", "ASSISTANT"] for s in sessions)


def test_media_parts_are_summarised_never_inlined(client, recorded):
    """Inline image bytes and file parts are recorded by type, media type and size."""
    image = types.Part.from_bytes(data=b"\x89PNG" + b"0" * 996, mime_type="image/png")
    document = types.Part.from_uri(file_uri="gs://bucket/report.pdf", mime_type="application/pdf")
    client.models.generate_content(
        model=MODEL, contents=[{"role": "user", "parts": [{"text": "Look:"}]}, image, document]
    )
    (session,) = recorded()
    first, second = session["turns"][0], session["turns"][1]
    assert first["content"] == "Look:"
    assert second["role"] == "USER"
    assert second["content"] == [
        {"type": "inline_data", "mediaType": "image/png", "dataLength": 1000},
        {"type": "file_data", "url": "gs://bucket/report.pdf", "mediaType": "application/pdf"},
    ]


def test_an_error_mid_stream_is_reraised_and_recorded_with_what_arrived(
    client, fake_provider, recorded
):
    """An error frame mid-stream raises as without the SDK; the partial reply is recorded
    with the error, incomplete."""
    fake_provider.script(Reply(text="one two three four", stream_error_after=2))
    received = []
    with pytest.raises(errors.APIError) as caught:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="count"):
            received.append(chunk.text)
    assert received == ["one", " two"]
    (session,) = recorded()
    reply = session["turns"][1]
    assert reply["content"] == "one two"
    assert reply["metadata"]["incomplete"] is True
    assert reply["metadata"]["error"]["type"] == type(caught.value).__name__


def test_a_client_instrumented_on_its_own_records_once_under_process_wide(
    fake_provider, provenant_client, recorded
):
    """With process-wide instrumentation on too, a Client instrumented on its own records
    each call once, with its own agent."""
    provenant.instrument(provenant=provenant_client, agent_id="Everyone")
    try:
        own = provenant.instrument(
            make_client(fake_provider), provenant=provenant_client, agent_id="Own"
        )
        own.models.generate_content(model=MODEL, contents="mine")
        list(own.models.generate_content_stream(model=MODEL, contents="mine, streamed"))
        own.close()
    finally:
        provenant.uninstrument()
    sessions = recorded()
    assert [s["agent"]["name"] for s in sessions] == ["Own", "Own"]
    assert [len(s["turns"]) for s in sessions] == [2, 2]
