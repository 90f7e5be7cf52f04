"""OpenTelemetry export: the span tree of sessions, traced steps, tools and LLM calls."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from typing import Any, Iterator

import anthropic
import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id
from otel_spans import Spans, needs_anthropic_otel, parent_of

import provenant
from provenant._fake_provider import FakeProvider, Reply, ToolCall
from provenant.client import ProvenantClient

MODEL = "claude-test"


@pytest.fixture
def prov(spans: Spans, provenant_server: Any, provenant_api_key: str) -> Iterator[ProvenantClient]:
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, otel=spans.provider
    )
    yield client
    client.shutdown(10)


def anthropic_client(fake: FakeProvider, spans: Spans, is_async: bool = False) -> Any:
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return cls(
        base_url=fake.url,
        api_key="test-key",
        max_retries=0,
        open_telemetry={"tracer_provider": spans.provider},
    )


def test_session_steps_and_tool_form_one_tree(spans: Spans, prov: ProvenantClient) -> None:
    """A session, a nested traced step and a tool become invoke_agent > step > execute_tool."""

    @prov.trace(kind="tool")
    def search(query: str) -> list[str]:
        return [f"result for {query}"]

    @prov.trace(kind="step")
    def plan(goal: str) -> list[str]:
        return search(goal)

    with prov.session("Support Bot", user_id="u1") as session:
        plan("refunds")
    assert prov.flush(10)

    root = spans.named("invoke_agent Support Bot")
    step = next(span for span in spans.all() if span.name.endswith("plan"))
    tool = spans.named("execute_tool search")
    assert {root.context.trace_id, step.context.trace_id, tool.context.trace_id} == {
        root.context.trace_id
    }
    assert root.parent is None
    assert parent_of(step) == root.context.span_id
    assert parent_of(tool) == step.context.span_id
    assert root.kind is SpanKind.INTERNAL
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "Support Bot"
    assert root.attributes["gen_ai.conversation.id"] == session.external_id
    assert "plan" in str(step.attributes["code.function.name"])
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "search"
    assert json.loads(str(tool.attributes["gen_ai.tool.call.arguments"])) == {"query": "refunds"}
    assert json.loads(str(tool.attributes["gen_ai.tool.call.result"])) == ["result for refunds"]
    assert all(span.status.status_code is StatusCode.UNSET for span in spans.all())
    assert (root.start_time or 0) <= (step.start_time or 0) <= (tool.start_time or 0)
    assert (tool.end_time or 0) <= (step.end_time or 0) <= (root.end_time or 0)

    # The session links to the trace: its metadata, delivered to the server, names it.
    stored = prov.get_session(session.id or "")
    assert stored["metadata"]["otelTraceId"] == format_trace_id(root.context.trace_id)
    assert stored["metadata"]["otelSpanId"] == format_span_id(root.context.span_id)


@needs_anthropic_otel
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_streamed_anthropic_call_is_a_chat_span(
    spans: Spans, prov: ProvenantClient, fake_provider: FakeProvider, is_async: bool
) -> None:
    """A streamed Anthropic call is a CLIENT span "chat <model>" with GenAI attributes."""
    fake_provider.script(
        Reply(
            text="Hi there you",
            input_tokens=11,
            output_tokens=3,
            cache_read_tokens=100,
            cache_creation_tokens=20,
            thinking="A greeting: answer briefly.",
        )
    )
    client = provenant.instrument(anthropic_client(fake_provider, spans, is_async), provenant=prov)

    @prov.trace(kind="step")
    async def answer() -> str:
        stream = client.messages.create(
            model=MODEL,
            max_tokens=50,
            system="Be brief.",
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
        )
        text = ""
        if is_async:
            async for event in await stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
        else:
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
        return text

    async def run() -> str:
        with prov.session("Stream Bot"):
            return await answer()

    assert asyncio.run(run()) == "Hi there you"
    root = spans.named("invoke_agent Stream Bot")
    step = next(span for span in spans.all() if span.name.endswith("answer"))
    chat = spans.named(f"chat {MODEL}")
    assert parent_of(chat) == step.context.span_id
    assert chat.context.trace_id == root.context.trace_id
    assert chat.kind is SpanKind.CLIENT
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.system"] == "anthropic"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.response.model"] == MODEL
    assert str(attributes["gen_ai.response.id"]).startswith("msg_")
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    # The input counts the whole prompt, cache included, as the conventions define it.
    assert attributes["gen_ai.usage.input_tokens"] == 131
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["gen_ai.request.stream"] is True
    assert isinstance(attributes["gen_ai.response.time_to_first_chunk"], float)
    assert attributes["gen_ai.conversation.id"] == root.attributes["gen_ai.conversation.id"]
    assert json.loads(str(attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello"}]}
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "A greeting: answer briefly."},
                {"type": "text", "content": "Hi there you"},
            ],
            "finish_reason": "stop",
        }
    ]
    # anthropic's own span is kept, once, in the same trace, as the child of ours.
    own = spans.named("anthropic.messages.create")
    assert own.context.trace_id == root.context.trace_id
    assert parent_of(own) == chat.context.span_id
    # ... and the trace context it sends is its own span's.
    [request] = fake_provider.received()
    traceparent = request.headers["traceparent"]
    assert traceparent.split("-")[1:3] == [
        format_trace_id(own.context.trace_id),
        format_span_id(own.context.span_id),
    ]


def test_openai_tool_call_reply_and_tool_span(
    spans: Spans, prov: ProvenantClient, fake_provider: FakeProvider
) -> None:
    """An OpenAI reply asking for a tool, then the traced tool, give chat and execute_tool spans."""
    fake_provider.script(Reply(text="", tool_calls=[ToolCall("add", {"a": 1, "b": 2}, id="c1")]))
    client = provenant.instrument(
        openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="k", max_retries=0),
        provenant=prov,
    )

    @prov.trace(kind="tool")
    def add(a: int, b: int) -> int:
        return a + b

    with prov.session("Calc Bot"):
        reply = client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "1+2?"}]
        )
        call = reply.choices[0].message.tool_calls[0]
        add(**json.loads(call.function.arguments))
    client.close()

    root = spans.named("invoke_agent Calc Bot")
    chat = spans.named("chat gpt-test")
    tool = spans.named("execute_tool add")
    assert parent_of(chat) == root.context.span_id
    assert parent_of(tool) == root.context.span_id
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    [output] = json.loads(str(chat.attributes["gen_ai.output.messages"]))
    assert output["finish_reason"] == "tool_call"
    assert {"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}} in (
        output["parts"]
    )
    assert tool.attributes["gen_ai.tool.call.result"] == "3"


@needs_anthropic_otel
def test_failing_call_sets_error_status_and_records_the_exception(
    spans: Spans, prov: ProvenantClient, fake_provider: FakeProvider
) -> None:
    """A provider error marks the chat span and the session span ERROR, with an exception event."""
    fake_provider.script(Reply(status=500))
    client = provenant.instrument(anthropic_client(fake_provider, spans), provenant=prov)

    with pytest.raises(anthropic.InternalServerError), prov.session("Broken Bot"):
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )

    chat = spans.named(f"chat {MODEL}")
    root = spans.named("invoke_agent Broken Bot")
    assert chat.status.status_code is StatusCode.ERROR
    assert "InternalServerError" in (chat.status.description or "")
    assert chat.attributes["error.type"] == "anthropic.InternalServerError"
    [event] = chat.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "anthropic.InternalServerError"
    assert root.status.status_code is StatusCode.ERROR
    own = spans.named("anthropic.messages.create")
    assert own.status.status_code is StatusCode.ERROR
    assert parent_of(own) == chat.context.span_id


def test_failing_traced_step_records_its_exception(spans: Spans, prov: ProvenantClient) -> None:
    """A traced step that raises ends its span ERROR with the exception, and the session too."""

    @prov.trace(kind="step")
    def explode() -> None:
        raise ValueError("no luck")

    with pytest.raises(ValueError), prov.session("Fragile Bot"):
        explode()

    step = next(span for span in spans.all() if span.name.endswith("explode"))
    assert step.status.status_code is StatusCode.ERROR
    assert step.status.description == "ValueError: no luck"
    assert step.attributes["error.type"] == "ValueError"
    assert [event.name for event in step.events] == ["exception"]
    assert spans.named("invoke_agent Fragile Bot").status.status_code is StatusCode.ERROR


def test_sessions_join_the_hosts_active_span(spans: Spans, prov: ProvenantClient) -> None:
    """Inside a host span, the session span is its child and the metadata names the trace."""
    host = spans.provider.get_tracer("host")
    with host.start_as_current_span("http request") as request_span:
        with prov.session("Joined Bot") as session, host.start_as_current_span("db query"):
            pass
        host_context = request_span.get_span_context()

    root = spans.named("invoke_agent Joined Bot")
    assert parent_of(root) == host_context.span_id
    assert root.context.trace_id == host_context.trace_id
    assert session.metadata["otelTraceId"] == format_trace_id(host_context.trace_id)
    assert session.metadata["otelSpanId"] == format_span_id(root.context.span_id)
    # A span the host starts inside the session block is the session span's child.
    assert parent_of(spans.named("db query")) == root.context.span_id


def test_host_spans_inside_a_traced_step_are_its_children(
    spans: Spans, prov: ProvenantClient
) -> None:
    """A span the host starts inside a traced step nests under it; the context is restored after."""
    host = spans.provider.get_tracer("host")

    @prov.trace(kind="step")
    def work() -> None:
        with host.start_as_current_span("inner"):
            pass

    with prov.session("Nesting Bot"):
        work()
    with host.start_as_current_span("after"):
        pass

    step = next(span for span in spans.all() if span.name.endswith("work"))
    assert parent_of(spans.named("inner")) == step.context.span_id
    assert spans.named("after").parent is None


@needs_anthropic_otel
def test_content_is_left_out_when_capture_is_off(
    spans: Spans, provenant_server: Any, provenant_api_key: str, fake_provider: FakeProvider
) -> None:
    """With capture_content off, no messages, tool arguments or results reach the spans."""
    prov = ProvenantClient(
        base_url=provenant_server.url,
        api_key=provenant_api_key,
        otel=spans.provider,
        capture_content=False,
    )
    client = provenant.instrument(anthropic_client(fake_provider, spans), provenant=prov)

    @prov.trace(kind="tool")
    def lookup(key: str) -> str:
        return "secret value"

    with prov.session("Private Bot"):
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "my secret"}]
        )
        lookup("k")
    prov.shutdown(10)

    content_keys = {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
    ours = [span for span in spans.all() if not span.name.startswith("anthropic.")]
    assert len(ours) == 3
    for span in ours:
        assert not content_keys & set(span.attributes or {}), span.name
    assert spans.named(f"chat {MODEL}").attributes["gen_ai.usage.output_tokens"] > 0


def test_otel_only_sends_spans_and_no_records(
    spans: Spans, provenant_server: Any, provenant_api_key: str
) -> None:
    """destination="otel-only" emits the spans and delivers nothing to Provenant."""
    prov = ProvenantClient(
        base_url=provenant_server.url,
        api_key=provenant_api_key,
        otel=spans.provider,
        destination="otel-only",
    )

    @prov.trace(kind="step")
    def step() -> int:
        return 1

    with prov.session("Quiet Bot") as session:
        session.add_turn("USER", "hello")
        step()
    assert prov.flush(10)
    prov.shutdown(10)

    assert spans.named("invoke_agent Quiet Bot")
    assert any(span.name.endswith("step") for span in spans.all())
    with ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key) as reader:
        assert reader.list_sessions() == []


def test_otel_true_uses_the_global_provider() -> None:
    """otel=True emits through the global TracerProvider, even one set after the client."""
    code = """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from provenant.client import ProvenantClient

        prov = ProvenantClient(base_url="local", otel=True, destination="otel-only")
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        with prov.session("Global Bot"):
            pass
        print(sorted(span.name for span in exporter.get_finished_spans()))
    """
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['invoke_agent Global Bot']"
