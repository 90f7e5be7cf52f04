"""LiteLLM (completion, acompletion, streams, Router), recorded process-wide, against the
fake provider's OpenAI and Anthropic formats."""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

# No fetch of the model price list at import (this machine has no network).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# LiteLLM needs Python 3.10 (the dev extra installs it only there).
litellm = pytest.importorskip("litellm")

import provenant  # noqa: E402
from provenant._fake_provider import FakeProvider, Reply, ToolCall  # noqa: E402
from provenant.client import ProvenantClient  # noqa: E402


@pytest.fixture(autouse=True)
def _instrumented(provenant_client: ProvenantClient) -> Iterator[None]:
    provenant.instrument(provenant=provenant_client, agent_id="LiteLLM Bot")
    yield
    provenant.uninstrument()


@pytest.fixture(params=["openai", "anthropic"])
def route(request: pytest.FixtureRequest, fake_provider: FakeProvider) -> dict[str, Any]:
    """The arguments that send a call to one provider of the fake."""
    if request.param == "openai":
        return {"model": "openai/gpt-test", "api_base": fake_provider.openai_base_url}
    return {"model": "anthropic/claude-test", "api_base": fake_provider.url}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def complete(mode: str, h: Any, **kwargs: Any) -> Any:
    function = litellm.acompletion if mode == "async" else litellm.completion
    return await h.maybe(function(api_key="k", **kwargs))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("streamed", [False, True])
def test_a_call_is_recorded_once_naming_the_real_provider_and_model(
    route, mode, streamed, fake_provider, recorded, h
):
    """completion/acompletion, plain or streamed, record USER and ASSISTANT once (not again
    by the provider SDK LiteLLM calls inside), naming the provider LiteLLM routed to."""

    async def body() -> str:
        result = await complete(mode, h, messages=user("Hi"), stream=streamed, **route)
        if streamed:
            chunks = await h.drain(result)
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return str(result.choices[0].message.content)

    assert h.scenario(body) == "You said: Hi"
    (session,) = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT"]
    reply = session["turns"][1]
    provider, model = route["model"].split("/")
    assert reply["metadata"]["provider"] == provider
    assert reply["metadata"]["model"] == model
    assert reply["metadata"]["gateway"] == "litellm"
    assert reply["metadata"]["stream"] is streamed
    assert reply["content"] == "You said: Hi"
    if not streamed:
        assert reply["outputTokens"] > 0
    assert len(fake_provider.received()) == 1


def test_positional_arguments_are_read(route, recorded, h):
    """litellm.completion(model, messages) with both passed by position is recorded."""
    litellm.completion(route["model"], user("positional"), api_base=route["api_base"], api_key="k")
    (session,) = recorded()
    assert session["turns"][0]["content"] == "positional"


def test_a_ten_exchange_conversation_records_ten_user_and_ten_assistant_turns(
    route, provenant_client, recorded, h
):
    """The history LiteLLM resends is recorded once."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    with provenant_client.session("LiteLLM Bot"):
        for index in range(10):
            messages.append({"role": "user", "content": f"q{index}"})
            reply = litellm.completion(messages=list(messages), api_key="k", **route)
            messages.append({"role": "assistant", "content": reply.choices[0].message.content})
    (session,) = recorded()
    assert h.roles(session) == ["SYSTEM"] + ["USER", "ASSISTANT"] * 10


def test_a_tool_round_trip(route, fake_provider, provenant_client, recorded, h):
    """USER, ASSISTANT with the call, TOOL, ASSISTANT, through either provider."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")]),
        Reply(text="Sunny."),
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages: list[Any] = user("Weather?")
    with provenant_client.session("LiteLLM Bot"):
        first = litellm.completion(messages=messages, tools=tools, api_key="k", **route)
        call = first.choices[0].message.tool_calls[0]
        messages = [
            *messages,
            first.choices[0].message.model_dump(),
            {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
        ]
        assert (
            litellm.completion(messages=messages, tools=tools, api_key="k", **route)
            .choices[0]
            .message.content
            == "Sunny."
        )
    (session,) = recorded()
    assert h.roles(session) == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    asked = session["turns"][1]
    assert asked["toolCalls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert session["turns"][2]["metadata"]["toolCallId"] == "call_1"


def test_a_stream_broken_off_early_is_recorded_incomplete(route, fake_provider, recorded, h):
    """A stream the caller stops reading and closes is recorded incomplete."""
    fake_provider.script(Reply(text="one two three four five six"))
    stream = litellm.completion(messages=user("count"), stream=True, api_key="k", **route)
    for index, _ in enumerate(stream):
        if index == 1:
            break
    stream.close()
    (session,) = recorded()
    assert h.assistant_turns(session)[0]["metadata"]["incomplete"] is True


def test_a_router_call_is_recorded_once_however_it_routes(fake_provider, recorded, h):
    """Router.completion and acompletion record one call each, naming the deployment's
    provider and model."""
    router = litellm.Router(
        model_list=[
            {
                "model_name": "default",
                "litellm_params": {
                    "model": "openai/gpt-routed",
                    "api_base": fake_provider.openai_base_url,
                    "api_key": "k",
                },
            }
        ]
    )

    async def body() -> None:
        await router.acompletion(model="default", messages=user("async routed"))

    router.completion(model="default", messages=user("routed"))
    h.scenario(body)
    sessions = recorded()
    assert [s["turns"][0]["content"] for s in sessions] == ["routed", "async routed"]
    for session in sessions:
        assert h.roles(session) == ["USER", "ASSISTANT"]
        assert session["turns"][1]["metadata"]["model"] == "gpt-routed"
        assert session["turns"][1]["metadata"]["provider"] == "openai"


def test_provider_errors_propagate_as_without_instrumentation(route, fake_provider, recorded):
    """A provider's 400 raises LiteLLM's own exception, its status and message as when
    uninstrumented, and is recorded with the error and the provider."""
    fake_provider.script(*[Reply(status=400, error_message="Bad request body")] * 2)

    def failure() -> Exception:
        with pytest.raises(litellm.exceptions.BadRequestError) as caught:
            litellm.completion(messages=user("x"), api_key="k", num_retries=0, **route)
        return caught.value

    ours = failure()
    provenant.uninstrument()
    theirs = failure()
    assert type(ours) is type(theirs)
    assert (ours.status_code, ours.llm_provider, ours.model) == (
        theirs.status_code,
        theirs.llm_provider,
        theirs.model,
    )
    assert "Bad request body" in ours.message and "Bad request body" in theirs.message
    (session,) = recorded()
    reply = session["turns"][1]
    assert reply["metadata"]["error"]["status"] == 400
    assert reply["metadata"]["provider"] == route["model"].split("/")[0]
