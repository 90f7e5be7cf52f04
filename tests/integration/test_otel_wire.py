"""OpenTelemetry export over the real wire: OTLP/HTTP to a receiver on 127.0.0.1."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import anthropic
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otel_spans import needs_anthropic_otel

import provenant
from provenant._fake_provider import FakeProvider, Reply
from provenant.client import ProvenantClient


class _Receiver:
    """An OTLP/HTTP traces endpoint that decodes each ExportTraceServiceRequest it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, ExportTraceServiceRequest]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                content_type = self.headers.get("Content-Type", "")
                receiver.requests.append((self.path, content_type, request))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1/traces"

    def spans(self) -> list[ProtoSpan]:
        return [
            span
            for _, _, request in self.requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    receiver = _Receiver()
    yield receiver
    receiver.close()


def _attributes(span: ProtoSpan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in span.attributes:
        value = item.value
        which = value.WhichOneof("value")
        if which == "array_value":
            out[item.key] = [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        else:
            out[item.key] = getattr(value, which) if which else None
    return out


@needs_anthropic_otel
def test_spans_arrive_over_otlp_http(
    receiver: _Receiver, provenant_server: Any, provenant_api_key: str, fake_provider: FakeProvider
) -> None:
    """A session, a step, a failing tool and an LLM call reach an OTLP/HTTP endpoint as protobuf."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
    client = ProvenantClient(
        base_url=provenant_server.url, api_key=provenant_api_key, otel=provider
    )

    @client.trace(kind="tool")
    def lookup(order: str) -> str:
        raise KeyError(order)

    @client.trace(kind="step")
    def plan() -> None:
        with contextlib.suppress(KeyError):
            lookup("A-1")

    fake_provider.script(Reply(text="Done.", input_tokens=9, output_tokens=2))
    llm = provenant.instrument(
        anthropic.Anthropic(base_url=fake_provider.url, api_key="k", max_retries=0),
        provenant=client,
    )
    with client.session("Wire Bot") as session:
        plan()
        llm.messages.create(
            model="claude-wire", max_tokens=10, messages=[{"role": "user", "content": "Go"}]
        )
    llm.close()
    assert client.shutdown(10)
    provider.shutdown()

    assert receiver.requests, "no OTLP request arrived"
    path, content_type, _ = receiver.requests[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    spans = {span.name: span for span in receiver.spans()}
    root = spans["invoke_agent Wire Bot"]
    step = next(span for name, span in spans.items() if name.endswith("plan"))
    tool = spans["execute_tool lookup"]
    assert len({span.trace_id for span in spans.values()}) == 1
    assert root.parent_span_id == b""
    assert step.parent_span_id == root.span_id
    assert tool.parent_span_id == step.span_id
    assert _attributes(root)["gen_ai.operation.name"] == "invoke_agent"
    assert _attributes(root)["gen_ai.conversation.id"] == session.external_id
    assert _attributes(tool)["gen_ai.tool.name"] == "lookup"
    assert tool.status.code == tool.status.STATUS_CODE_ERROR
    assert _attributes(tool)["error.type"] == "KeyError"
    assert [event.name for event in tool.events] == ["exception"]
    assert root.trace_id.hex() == session.metadata["otelTraceId"]
    assert root.span_id.hex() == session.metadata["otelSpanId"]
    chat = spans["chat claude-wire"]
    assert chat.parent_span_id == root.span_id
    assert chat.kind == chat.SPAN_KIND_CLIENT
    assert _attributes(chat)["gen_ai.usage.input_tokens"] == 9
    assert _attributes(chat)["gen_ai.usage.output_tokens"] == 2
    assert _attributes(chat)["gen_ai.response.finish_reasons"] == ["end_turn"]
    # anthropic (no tracer provider of its own here) still sends our trace context.
    [request] = fake_provider.received()
    assert request.headers["traceparent"].split("-")[1:3] == [
        chat.trace_id.hex(),
        chat.span_id.hex(),
    ]
