"""The OpenTelemetry observer on spans of the real tracer, exported to memory."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from provenant.client import ProvenantClient

Setup = tuple[ProvenantClient, InMemorySpanExporter]


@pytest.fixture
def setup() -> Iterator[Setup]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = ProvenantClient(base_url="local", otel=provider, destination="otel-only")
    yield client, exporter
    client.shutdown(5)
    provider.shutdown()


def finished(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_an_llm_span_is_renamed_when_its_model_is_known_at_the_end(setup: Setup) -> None:
    """An LLM span started without a model is named "chat <model>" from its response model."""
    client, exporter = setup
    tracer = client._tracer
    with client.session("Bot") as session:
        span = tracer.start_span("chat", kind="llm", session=session, attributes={"provider": "x"})
        span.set_attributes({"request_model": "m-1", "response_model": "m-1-2024"})
        span.end()
    chat = finished(exporter)["chat m-1"]
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.request.model"] == "m-1"
    assert chat.attributes["gen_ai.response.model"] == "m-1-2024"
    assert chat.attributes["gen_ai.provider.name"] == "x"


def test_a_cancelled_step_is_not_an_error(setup: Setup) -> None:
    """A traced coroutine cancelled mid-way ends its span UNSET, with no exception event."""
    client, exporter = setup

    @client.trace(kind="step")
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        async with client.session("Bot"):
            task = asyncio.ensure_future(slow())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    step = next(span for span in exporter.get_finished_spans() if span.name.endswith("slow"))
    assert step.status.status_code is StatusCode.UNSET
    assert step.events == ()
    assert step.attributes is not None
    assert step.attributes["provenant.span.status"] == "cancelled"


def test_unsampled_and_disabled_sessions_emit_no_spans() -> None:
    """A session left out by sample_rate=0, or a disabled client, emits no span at all."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for options in ({"sample_rate": 0.0}, {"enabled": False}):
        client = ProvenantClient(
            base_url="local", otel=provider, destination="otel-only", **options
        )

        @client.trace(kind="step")
        def step() -> int:
            return 1

        with client.session("Bot"):
            assert step() == 1
        client.shutdown(5)
    assert exporter.get_finished_spans() == ()
    provider.shutdown()


def test_spans_keep_the_tracers_timestamps(setup: Setup) -> None:
    """The exported span starts and ends at the Provenant span's own times."""
    client, exporter = setup
    with client.session("Timed Bot") as session:
        root = session.root_span
    assert root is not None
    span = finished(exporter)["invoke_agent Timed Bot"]
    assert span.start_time == root.start_time_ns
    assert span.end_time == root.end_time_ns


def test_the_mask_applies_to_content_on_spans() -> None:
    """The client's mask rewrites message content, tool-call arguments and tool results on spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def mask(value: object) -> object:
        return "***" if isinstance(value, str) and "secret" in value else value

    client = ProvenantClient(base_url="local", otel=provider, destination="otel-only", mask=mask)

    @client.trace(kind="tool")
    def vault(key: str) -> str:
        return "the secret is 42"

    with client.session("Masked Bot") as session:
        span = client._tracer.start_span(
            "chat m", kind="llm", session=session, attributes={"request_model": "m"}
        )
        span.set_attributes(
            {
                "input_messages": [{"role": "user", "content": "my secret"}],
                "output_messages": [{"role": "assistant", "content": "a secret reply"}],
                "tool_calls": [{"id": "c", "name": "vault", "arguments": "secret"}],
            }
        )
        span.end()
        vault("k")
    client.shutdown(5)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    chat = dict(spans["chat m"].attributes or {})
    assert "secret" not in str(chat["gen_ai.input.messages"])
    assert "secret" not in str(chat["gen_ai.output.messages"])
    assert "***" in str(chat["gen_ai.output.messages"])
    tool = dict(spans["execute_tool vault"].attributes or {})
    assert tool["gen_ai.tool.call.result"] == '"***"'
    provider.shutdown()
