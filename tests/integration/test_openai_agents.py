"""The OpenAI Agents SDK integration: real `openai-agents` runs against the fake provider."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator

import openai
import pytest

pytest.importorskip("agents")  # Python >= 3.10 (see pyproject.toml)
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    UserError,
    function_tool,
    input_guardrail,
    set_trace_processors,
    trace,
)
from agents.tracing import get_trace_provider

import provenant
from provenant._fake_provider import FakeProvider, RecordedRequest, Reply, ToolCall
from provenant._logging import fault_counts
from provenant.client import ProvenantClient
from provenant.integrations import openai_agents
from provenant.integrations.openai_agents import ProvenantTracingProcessor

MODEL = "gpt-agents-test"


@pytest.fixture
def processor(provenant_client: ProvenantClient) -> Iterator[ProvenantTracingProcessor]:
    """Our processor as the SDK's only one (its exporter to OpenAI would go to the network)."""
    provider: Any = get_trace_provider()
    before = list(provider._multi_processor._processors)
    processor = ProvenantTracingProcessor(provenant=provenant_client)
    set_trace_processors([processor])
    yield processor
    set_trace_processors(before)


@pytest.fixture
def oai(fake_provider: FakeProvider) -> Any:
    return openai.AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=0)


@function_tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"Sunny in {city}"


def agents_pair(oai: Any, *, chat: bool = False, tools: Any = (get_weather,)) -> Agent[Any]:
    model_class: Any = OpenAIChatCompletionsModel if chat else OpenAIResponsesModel
    refunds = Agent(
        name="Refunds", instructions="You handle refunds.", model=model_class(MODEL, oai)
    )
    return Agent(
        name="Triage",
        instructions="Route the user.",
        tools=list(tools),
        handoffs=[refunds],
        model=model_class(MODEL, oai),
    )


def script_tool_then_handoff(fake: FakeProvider) -> None:
    fake.script(
        Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]),
        Reply(text="", tool_calls=[ToolCall("transfer_to_refunds", {})]),
        Reply(text="Your refund is on its way."),
    )


def run_sync_in_thread(fake: FakeProvider, make_agent: Any, text: str, prepare: Any) -> Any:
    """``Runner.run_sync`` runs its own event loop: in a thread, with a client of its own
    (a client's connections belong to one loop), closed on that loop afterwards."""

    def go() -> Any:
        client = prepare(
            openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
        )
        try:
            return Runner.run_sync(make_agent(client), text)
        finally:
            loop = asyncio.get_event_loop_policy().get_event_loop()
            loop.run_until_complete(client.close())
            loop.close()
            asyncio.set_event_loop(None)

    return asyncio.to_thread(go)


async def run(mode: str, agent: Agent[Any], text: str, **options: Any) -> Any:
    if mode == "run":
        return await Runner.run(agent, text, **options)
    result = Runner.run_streamed(agent, text, **options)
    async for _ in result.stream_events():
        pass
    return result


def summary(session: dict[str, Any]) -> list[tuple[str, Any, list[str]]]:
    """Each turn as (role, tool names or content, span path)."""
    rows = []
    for turn in session["turns"]:
        if turn["role"] == "SYSTEM":
            continue
        what = [c["name"] for c in turn["toolCalls"]] or turn["content"]
        rows.append((turn["role"], what, turn["metadata"].get("span", [])))
    return rows


EXPECTED = [
    ("USER", "What's the weather in Paris? Then refund me.", ["Triage"]),
    ("ASSISTANT", ["get_weather"], ["Triage"]),
    ("TOOL", "Sunny in Paris", ["Triage", "get_weather"]),
    ("ASSISTANT", ["transfer_to_refunds"], ["Triage"]),
    # The Agents SDK's handoff output is JSON text, recorded (and read back) as text.
    ("TOOL", '{"assistant": "Refunds"}', ["Triage", "handoff to Refunds"]),
    ("ASSISTANT", "Your refund is on its way.", ["Refunds"]),
]


@pytest.mark.parametrize("mode", ["run", "run_sync", "run_streamed"])
@pytest.mark.parametrize("instrumented", [False, True], ids=["plain", "client-instrumented"])
def test_tool_and_handoff_are_recorded_in_order_once(
    mode, instrumented, processor, oai, fake_provider, provenant_client, recorded, h
):
    """A run with a function tool and a handoff records, in order and once: the USER turn,
    the tool call, its TOOL turn, the handoff in its span, and the final answer."""

    def prepare(client: Any) -> Any:
        if instrumented:
            provenant.instrument(client, provenant=provenant_client, agent_id="Raw client")
        return client

    script_tool_then_handoff(fake_provider)
    text = "What's the weather in Paris? Then refund me."
    if mode == "run_sync":
        result = h.scenario(lambda: run_sync_in_thread(fake_provider, agents_pair, text, prepare))
    else:
        agent = agents_pair(prepare(oai))
        result = h.scenario(lambda: run(mode, agent, text), oai)

    assert result.final_output == "Your refund is on its way."
    (session,) = recorded()
    assert summary(session) == EXPECTED
    assert session["status"] == "COMPLETED"
    assert session["agent"]["name"] == "Triage"
    assert session["metadata"]["workflowName"] == "Agent workflow"
    assert session["metadata"]["traceId"].startswith("trace_")
    assistant = [t for t in session["turns"] if t["role"] == "ASSISTANT"]
    assert all(t["inputTokens"] and t["outputTokens"] for t in assistant)
    assert all(t["latencyMs"] is not None for t in assistant)
    tool = next(t for t in session["turns"] if t["role"] == "TOOL")
    assert tool["metadata"]["toolInput"] == {"city": "Paris"}
    assert [t["content"] for t in session["turns"] if t["role"] == "SYSTEM"] == [
        "Route the user.",
        "You handle refunds.",
    ]


def test_chat_completions_model_is_recorded_from_its_generation_spans(
    processor, oai, fake_provider, recorded, h
):
    """An agent on the Chat Completions model records the same turns as one on Responses."""
    script_tool_then_handoff(fake_provider)
    agent = agents_pair(oai, chat=True)

    h.scenario(lambda: run("run", agent, "What's the weather in Paris? Then refund me."), oai)

    (session,) = recorded()
    assert summary(session) == EXPECTED


def test_trace_id_workflow_name_and_group_are_in_the_session_metadata(
    processor, oai, fake_provider, recorded, h
):
    """The run's trace id, workflow name and group id are in the session's metadata."""
    fake_provider.script(Reply(text="Hello"))
    agent = agents_pair(oai)
    config = RunConfig(
        workflow_name="Support flow", group_id="thread-7", trace_id="trace_" + "a" * 32
    )

    h.scenario(lambda: Runner.run(agent, "Hi", run_config=config), oai)

    (session,) = recorded()
    assert session["metadata"]["workflowName"] == "Support flow"
    assert session["metadata"]["groupId"] == "thread-7"
    assert session["metadata"]["traceId"] == "trace_" + "a" * 32


@pytest.mark.parametrize("mode", ["run", "run_streamed"])
def test_a_run_joins_the_active_session(
    mode, processor, oai, fake_provider, provenant_client, recorded, h
):
    """Inside provenant.session() two runs record into that session, under its span path."""
    fake_provider.script(Reply(text="One"), Reply(text="Two"))
    agent = agents_pair(oai)

    async def body() -> None:
        with provenant_client.session("My app", user_id="u1"):
            await run(mode, agent, "first")
            await run(mode, agent, "second")

    h.scenario(body, oai)

    (session,) = recorded()
    assert session["agent"]["name"] == "My app"
    assert summary(session) == [
        ("USER", "first", ["Triage"]),
        ("ASSISTANT", "One", ["Triage"]),
        ("USER", "second", ["Triage"]),
        ("ASSISTANT", "Two", ["Triage"]),
    ]


def test_a_trace_around_two_runs_is_one_session(processor, oai, fake_provider, recorded, h):
    """An Agents SDK ``trace()`` block is one workflow: its runs are one session."""
    fake_provider.script(Reply(text="One"), Reply(text="Two"))
    agent = agents_pair(oai)

    async def body() -> None:
        with trace("Two questions"):
            await Runner.run(agent, "first")
            await Runner.run(agent, "second")

    h.scenario(body, oai)

    (session,) = recorded()
    assert session["metadata"]["workflowName"] == "Two questions"
    assert [row[1] for row in summary(session)] == ["first", "One", "second", "Two"]


def test_a_failing_model_call_ends_the_session_failed(processor, oai, fake_provider, recorded, h):
    """A provider error fails the run as without the processor, and the session FAILED."""
    fake_provider.script(Reply(status=500, error_message="model down"))
    agent = agents_pair(oai)

    with pytest.raises(openai.InternalServerError):
        h.scenario(lambda: Runner.run(agent, "Hi"), oai)

    (session,) = recorded()
    assert session["status"] == "FAILED"
    reply = session["turns"][-1]
    assert reply["role"] == "ASSISTANT"
    assert reply["metadata"]["error"]["type"] == "InternalServerError"
    assert reply["metadata"]["error"]["status"] == 500


@function_tool
def broken_lookup(order: str) -> str:
    """Look an order up."""
    raise RuntimeError(f"no order {order}")


@function_tool(failure_error_function=None)
def strict_lookup(order: str) -> str:
    """Look an order up, failing the run when it cannot."""
    raise RuntimeError(f"no order {order}")


def test_a_tool_that_raises_is_recorded_and_the_run_goes_on(
    processor, oai, fake_provider, recorded, h
):
    """The SDK answers a failing tool's call with an error message and goes on: the TOOL
    turn records what the model was sent, and the error."""
    fake_provider.script(
        Reply(text="", tool_calls=[ToolCall("broken_lookup", {"order": "42"})]),
        Reply(text="Sorry, I could not find it."),
    )
    agent = agents_pair(oai, tools=[broken_lookup])

    result = h.scenario(lambda: Runner.run(agent, "Where is order 42?"), oai)

    assert result.final_output == "Sorry, I could not find it."
    (session,) = recorded()
    assert [row[0] for row in summary(session)] == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    tool = next(t for t in session["turns"] if t["role"] == "TOOL")
    sent = fake_provider.requests[-1].body["input"][-1]
    assert sent["type"] == "function_call_output"
    assert tool["content"] == sent["output"]
    assert tool["metadata"]["error"].startswith("Error running tool")
    assert session["status"] == "COMPLETED"


def test_a_tool_error_that_fails_the_run_is_recorded_and_raised_unchanged(
    processor, oai, fake_provider, recorded, h
):
    """A tool without an error handler fails the run with the SDK's own error; its TOOL
    turn is recorded and the session ends FAILED."""
    fake_provider.script(Reply(text="", tool_calls=[ToolCall("strict_lookup", {"order": "7"})]))
    agent = agents_pair(oai, tools=[strict_lookup])

    with pytest.raises(UserError, match="no order 7"):
        h.scenario(lambda: Runner.run(agent, "Where is order 7?"), oai)

    (session,) = recorded()
    assert session["status"] == "FAILED"
    tool = next(t for t in session["turns"] if t["role"] == "TOOL")
    assert "no order 7" in tool["metadata"]["error"]
    assert tool["metadata"]["span"] == ["Triage", "strict_lookup"]


def test_a_guardrail_is_a_span_on_the_turns_recorded_inside_it(
    processor, oai, fake_provider, recorded, h
):
    """An input guardrail that runs its own agent: that agent's turns are in the
    guardrail's span; a tripped guardrail fails the run (and the session) as it did."""
    checker = Agent(
        name="Checker", instructions="Say SAFE or UNSAFE.", model=OpenAIResponsesModel(MODEL, oai)
    )

    @input_guardrail
    async def safety(context: Any, agent: Any, text: Any) -> GuardrailFunctionOutput:
        verdict = await Runner.run(checker, text, context=context.context)
        return GuardrailFunctionOutput(
            output_info=verdict.final_output, tripwire_triggered=verdict.final_output == "UNSAFE"
        )

    agent = Agent(
        name="Triage",
        instructions="Route the user.",
        input_guardrails=[safety],
        model=OpenAIResponsesModel(MODEL, oai),
    )

    def answer(request: RecordedRequest) -> Reply:
        return Reply(
            text="UNSAFE" if request.body.get("instructions", "").startswith("Say") else "ok"
        )

    fake_provider.set_responder(answer)

    with pytest.raises(InputGuardrailTripwireTriggered):
        h.scenario(lambda: Runner.run(agent, "Do something bad"), oai)

    (session,) = recorded()
    assert session["status"] == "FAILED"
    spans = {tuple(t["metadata"]["span"]) for t in session["turns"]}
    assert ("Triage", "guardrail safety", "Checker") in spans


def test_concurrent_runs_never_mix(processor, oai, fake_provider, recorded, h):
    """20 concurrent runs, each with a tool call, are 20 sessions of their own turns."""

    def answer(request: RecordedRequest) -> Reply:
        items = request.body["input"]
        user = items[0]["content"]
        if items[-1].get("type") == "function_call_output":
            return Reply(text=f"done {user}", chunk_delay_s=0.001)
        return Reply(text="", tool_calls=[ToolCall("get_weather", {"city": user})])

    fake_provider.set_responder(answer)
    agent = agents_pair(oai)
    cities = [f"city-{i}" for i in range(20)]

    async def body() -> list[Any]:
        return await asyncio.gather(
            *(run("run" if i % 2 else "run_streamed", agent, c) for i, c in enumerate(cities))
        )

    results = h.scenario(body, oai)

    assert [r.final_output for r in results] == [f"done {c}" for c in cities]
    sessions = recorded()
    assert len(sessions) == 20
    for session in sessions:
        user = session["turns"][1]["content"]
        assert summary(session) == [
            ("USER", user, ["Triage"]),
            ("ASSISTANT", ["get_weather"], ["Triage"]),
            ("TOOL", f"Sunny in {user}", ["Triage", "get_weather"]),
            ("ASSISTANT", f"done {user}", ["Triage"]),
        ]


def test_install_adds_one_processor_and_uninstall_removes_it(provenant_client):
    """install() adds the processor once (beside the SDK's own); uninstall() removes it."""
    provider: Any = get_trace_provider()
    before = list(provider._multi_processor._processors)
    try:
        first = openai_agents.install(provenant=provenant_client)
        again = openai_agents.install()
        assert first is again
        assert list(provider._multi_processor._processors) == [*before, first]
    finally:
        openai_agents.uninstall()
    assert list(provider._multi_processor._processors) == before


def test_odd_tool_output_is_recorded_safely(processor, oai, fake_provider, recorded, h):
    """A tool returning a non-JSON object is recorded in a readable form; the run is unchanged."""

    class Odd:
        def __repr__(self) -> str:
            return "<Odd thing>"

        __str__ = __repr__

    @function_tool
    def odd_tool() -> Any:
        """Returns an odd object."""
        return Odd()

    fake_provider.script(Reply(text="", tool_calls=[ToolCall("odd_tool", {})]), Reply(text="ok"))
    agent = agents_pair(oai, tools=[odd_tool])

    result = h.scenario(lambda: Runner.run(agent, "go"), oai)

    assert result.final_output == "ok"
    (session,) = recorded()
    tool = next(t for t in session["turns"] if t["role"] == "TOOL")
    assert "Odd thing" in json.dumps(tool["content"])
    assert [row[0] for row in summary(session)] == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]


def test_agents_tools_and_model_calls_are_exported_as_one_span_tree(
    spans, provenant_server, provenant_api_key, oai, fake_provider, h
):
    """With OpenTelemetry export on, the run is one tree: the session, its agents, their
    model calls and tools, and the handoff."""
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, otel=spans.provider
    )
    provider: Any = get_trace_provider()
    before = list(provider._multi_processor._processors)
    set_trace_processors([ProvenantTracingProcessor(provenant=client)])
    try:
        script_tool_then_handoff(fake_provider)
        agent = agents_pair(oai)
        h.scenario(lambda: Runner.run(agent, "Weather in Paris? Then refund me."), oai)
    finally:
        set_trace_processors(before)
        client.shutdown(10)

    by_id = {span.context.span_id: span for span in spans.all()}
    root = spans.named("invoke_agent Triage")

    def path(span: Any) -> list[str]:
        names = []
        while span.parent is not None:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names[::-1]

    assert root.parent is None
    assert {span.context.trace_id for span in spans.all()} == {root.context.trace_id}
    assert sorted((span.name, tuple(path(span))) for span in spans.all()) == [
        ("Refunds", ("invoke_agent Triage",)),
        ("Triage", ("invoke_agent Triage",)),
        ("chat", ("invoke_agent Triage", "Refunds")),
        ("chat", ("invoke_agent Triage", "Triage")),
        ("chat", ("invoke_agent Triage", "Triage")),
        ("execute_tool get_weather", ("invoke_agent Triage", "Triage")),
        ("handoff", ("invoke_agent Triage", "Triage")),
        ("invoke_agent Triage", ()),
    ]


def test_a_fault_inside_the_processor_is_logged_and_the_run_goes_on(
    processor, oai, fake_provider, recorded, h, caplog
):
    """Events the processor cannot read are counted and logged on the provenant logger,
    never raised to the SDK; the next run records as usual."""
    before = fault_counts()
    processor.on_trace_start(None)  # type: ignore[arg-type]
    processor.on_span_start(None)  # type: ignore[arg-type]
    processor.on_span_end(None)  # type: ignore[arg-type]
    processor.on_trace_end(None)  # type: ignore[arg-type]
    counts = fault_counts()
    for kind in ("trace-start", "span-start", "span-end", "trace-end"):
        name = f"openai-agents-{kind}"
        assert counts.get(name, 0) == before.get(name, 0) + 1
    fake_provider.script(Reply(text="Hello"))

    result = h.scenario(lambda: Runner.run(agents_pair(oai), "Hi"), oai)

    assert result.final_output == "Hello"
    (session,) = recorded()
    assert summary(session) == [("USER", "Hi", ["Triage"]), ("ASSISTANT", "Hello", ["Triage"])]
