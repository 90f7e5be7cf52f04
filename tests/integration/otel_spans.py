"""Helpers of the OpenTelemetry tests: spans kept in memory, and what anthropic can do."""

from __future__ import annotations

from typing import Optional

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

#: anthropic 2.x ships OpenTelemetry spans of its own (and an ``open_telemetry=`` option);
#: older releases, all that Python 3.9 can install, have neither.
needs_anthropic_otel = pytest.mark.skipif(
    int(anthropic.__version__.split(".")[0]) < 2,
    reason="this anthropic release has no OpenTelemetry spans of its own",
)


class Spans:
    """A TracerProvider exporting to memory, a tracer of the host application on it, and
    ways to read what it got."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.host = self.provider.get_tracer("host")

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def names(self) -> list[str]:
        return sorted(span.name for span in self.all())

    def named(self, name: str) -> ReadableSpan:
        found = [span for span in self.all() if span.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r} in {self.names()}"
        return found[0]

    def ending(self, suffix: str) -> ReadableSpan:
        found = [span for span in self.all() if span.name.endswith(suffix)]
        assert len(found) == 1, f"{len(found)} spans ending {suffix!r} in {self.names()}"
        return found[0]


def parent_of(span: ReadableSpan) -> Optional[int]:
    """The span id of a span's parent, or None for a root."""
    return span.parent.span_id if span.parent is not None else None
