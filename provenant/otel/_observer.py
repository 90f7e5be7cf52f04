"""
The tracing observer that mirrors Provenant spans as OpenTelemetry spans.

Imported only when OpenTelemetry export is on (``otel=True`` or a ``TracerProvider``)::

    observer = OtelObserver(tracer_provider, capture_content=True)
    tracer.add_observer(observer)      # done by the Tracer when settings.otel is set

Each Provenant span gets one OpenTelemetry span, started and ended with the same
timestamps, kept in ``span.observer_data``. Parentage follows the Provenant tree;
the root span of a session joins the host's active OpenTelemetry span when there is
one, and the session's metadata records ``otelTraceId`` and ``otelSpanId``.

While a session or traced function is running on a thread, its OpenTelemetry span is
also the current OpenTelemetry context there, so spans the host (or a provider SDK,
such as anthropic's own ``anthropic.messages.create`` span) starts inside it become
its children.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Dict, Optional

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id

from provenant._version import __version__
from provenant.otel import _attributes

__all__ = ["OtelObserver"]

#: Where an OpenTelemetry span is kept in ``span.observer_data``.
SPAN_KEY = "provenant.otel.span"
#: The token of the context attached while the span is current, in ``span.observer_data``.
TOKEN_KEY = "provenant.otel.token"
#: The context attached, to check it is still current before detaching.
CONTEXT_KEY = "provenant.otel.context"

INSTRUMENTATION_SCOPE = "provenant"

_SPAN_KINDS: Dict[str, SpanKind] = {
    "llm": SpanKind.CLIENT,
    "session": SpanKind.INTERNAL,
    "agent": SpanKind.INTERNAL,
    "step": SpanKind.INTERNAL,
    "tool": SpanKind.INTERNAL,
}


class OtelObserver:
    """
    Emit each Provenant span as an OpenTelemetry GenAI span through a ``TracerProvider``.

    Args:
        tracer_provider: The provider to emit through; ``None`` means the global one,
            looked up when each span starts (so a provider set later is honoured).
        capture_content: Whether message content, tool arguments and results are
            recorded (opt-in in the GenAI conventions).

    .. versionadded:: 0.1
    """

    def __init__(self, tracer_provider: Optional[Any], *, capture_content: bool) -> None:
        self._provider = tracer_provider
        self._capture_content = capture_content
        self._tracer: Optional[trace.Tracer] = None
        if tracer_provider is not None:
            self._tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, __version__)

    @property
    def tracer_provider(self) -> Any:
        """The provider spans are emitted through (the global one when none was given)."""
        if self._provider is not None:
            return self._provider
        return trace.get_tracer_provider()

    def _get_tracer(self) -> trace.Tracer:
        tracer = self._tracer
        if tracer is not None:
            return tracer
        # The global provider may be replaced after the client is built (a proxy
        # provider before that); get_tracer on the API follows it.
        return trace.get_tracer(INSTRUMENTATION_SCOPE, __version__)

    def on_start(self, span: Any) -> None:
        """
        Start the OpenTelemetry span of a Provenant span that just started.

        Args:
            span: The Provenant span.
        """
        parent = self._parent_context(span)
        otel_span = self._get_tracer().start_span(
            _attributes.span_name(span),
            context=parent,
            kind=_SPAN_KINDS.get(span.kind, SpanKind.INTERNAL),
            attributes=_attributes.start_attributes(span),
            start_time=span.start_time_ns,
        )
        span.observer_data[SPAN_KEY] = otel_span
        if span.kind == "session":
            span_context = otel_span.get_span_context()
            if span_context.is_valid:
                metadata = span.session.metadata
                metadata["otelTraceId"] = format_trace_id(span_context.trace_id)
                metadata["otelSpanId"] = format_span_id(span_context.span_id)

    def on_end(self, span: Any) -> None:
        """
        Finish the OpenTelemetry span of a Provenant span that just ended.

        Args:
            span: The Provenant span.
        """
        data = span.observer_data
        otel_span = data.pop(SPAN_KEY, None)
        if otel_span is None:
            return
        self.deactivate(span)
        if span.kind == "llm":
            # The model is often known only once the request was read.
            otel_span.update_name(_attributes.span_name(span))
        otel_span.set_attributes(
            _attributes.end_attributes(span, capture_content=self._capture_content)
        )
        error = span.error
        if span.status == "error" or (error is not None and span.status != "cancelled"):
            description = f"{type(error).__name__}: {error}" if error is not None else None
            otel_span.set_status(Status(StatusCode.ERROR, description))
            if error is not None:
                otel_span.record_exception(error, escaped=True)
        otel_span.end(end_time=span.end_time_ns)

    def activate(self, span: Any) -> None:
        """
        Make a span's OpenTelemetry span the current OpenTelemetry context.

        Called when the Provenant span becomes current on this thread, so that spans
        the host or a provider SDK starts inside it are its children.

        Args:
            span: The Provenant span, already started.
        """
        data = span.observer_data
        otel_span = data.get(SPAN_KEY)
        if otel_span is None or TOKEN_KEY in data:
            return
        ctx = trace.set_span_in_context(otel_span)
        data[TOKEN_KEY] = otel_context.attach(ctx)
        data[CONTEXT_KEY] = ctx

    def deactivate(self, span: Any) -> None:
        """
        Restore the OpenTelemetry context that was current before :meth:`activate`.

        Restores nothing when the context has changed since (a span the host forgot to
        end, or a different thread or task): resetting it there would undo someone
        else's context.

        Args:
            span: The Provenant span.
        """
        data = span.observer_data
        token = data.pop(TOKEN_KEY, None)
        ctx = data.pop(CONTEXT_KEY, None)
        if token is None or otel_context.get_current() is not ctx:
            return
        if isinstance(token, contextvars.Token):
            # ValueError: created in another contextvars.Context (a copied task
            # context); the context it was attached in is not this one: nothing to restore.
            with contextlib.suppress(ValueError):
                token.var.reset(token)
        else:  # a runtime context that is not contextvars-based (OTEL_PYTHON_CONTEXT)
            otel_context.detach(token)

    def _parent_context(self, span: Any) -> Optional[otel_context.Context]:
        """Return the OpenTelemetry parent of a span (``None``: the current context)."""
        parent = span.parent
        parent_otel = parent.observer_data.get(SPAN_KEY) if parent is not None else None
        if parent_otel is None:
            # A session root (or a span whose parent is not exported): join the host's
            # active OpenTelemetry span, if any.
            return None
        current = trace.get_current_span()
        if current is parent_otel:
            return None
        if (
            current.is_recording()
            and (current.get_span_context().trace_id == parent_otel.get_span_context().trace_id)
            and CONTEXT_KEY in parent.observer_data
        ):
            # The parent is current and the host started a span inside it: nest under
            # the host's span, which is where this call really happens.
            return None
        return trace.set_span_in_context(parent_otel)
