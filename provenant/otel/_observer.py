"""
The tracing observer that mirrors Provenant spans as OpenTelemetry spans.

Imported only when OpenTelemetry export is on (``otel=True`` or a ``TracerProvider``)::

    observer = OtelObserver(tracer_provider, capture_content=True)
    tracer.add_observer(observer)      # done by the Tracer when settings.otel is set

Each Provenant span gets one OpenTelemetry span, started and ended with the same
timestamps and kept in ``span.observer_data``. Parentage follows the Provenant tree;
a session's root span joins the host's active OpenTelemetry span when there is one,
and the session's metadata records ``otelTraceId`` and ``otelSpanId``.

The OpenTelemetry context follows the Provenant one, so that spans the host or a
provider SDK starts are nested where they run:

* a traced function's span is current from ``on_start`` to ``on_end`` (the core makes
  it current right after the one and restores the context right before the other);
* a session block's span and an LLM call's span while its provider request runs are
  current between ``on_enter`` and ``on_exit``. anthropic's own
  ``anthropic.messages.create`` span is thus the child of our ``chat <model>`` span,
  and the trace context it sends is its own, untouched.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Dict, Optional

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id

from provenant._version import __version__
from provenant.otel import _attributes
from provenant.tracing._payload import prepare_content

__all__ = ["OtelObserver"]

#: Where an OpenTelemetry span is kept in ``span.observer_data``.
SPAN_KEY = "provenant.otel.span"
#: The tokens of the contexts attached while the span is current (a stack).
TOKENS_KEY = "provenant.otel.tokens"
#: Set once the OpenTelemetry span has ended.
ENDED_KEY = "provenant.otel.ended"

INSTRUMENTATION_SCOPE = "provenant"

# Spans of traced functions: current from on_start to on_end on the caller's thread.
_SCOPED_KINDS = frozenset(("agent", "step", "tool"))

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
        tracer_provider: The provider to emit through; ``None`` means the global one
            (one set after the client is built included).
        capture_content: Whether message content, tool arguments and results are
            recorded (opt-in in the GenAI conventions).
        mask: The client's ``mask``, applied to every content put on a span.
        max_content_bytes: Content above this size is cut, as in turns.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        tracer_provider: Optional[Any],
        *,
        capture_content: bool,
        mask: Optional[Callable[[Any], Any]] = None,
        max_content_bytes: int = 256 * 1024,
    ) -> None:
        self._provider = tracer_provider
        self._capture_content = capture_content
        self._mask = mask
        self._max_content_bytes = max_content_bytes
        if tracer_provider is not None:
            self._tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, __version__)
        else:
            # Before a global provider is set this is a ProxyTracer, which follows the
            # provider set later.
            self._tracer = trace.get_tracer(INSTRUMENTATION_SCOPE, __version__)

    @property
    def tracer_provider(self) -> Any:
        """The provider spans are emitted through (the global one when none was given)."""
        if self._provider is not None:
            return self._provider
        return trace.get_tracer_provider()

    def on_start(self, span: Any) -> None:
        """
        Start the OpenTelemetry span of a Provenant span that just started.

        A traced function's span (``agent``, ``step``, ``tool``) is also made the
        current OpenTelemetry context until it ends: the tracing core makes it current
        right after this call and restores the context right before ``on_end``.

        Args:
            span: The Provenant span.
        """
        parent = self._parent_context(span)
        otel_span = self._tracer.start_span(
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
        elif span.kind in _SCOPED_KINDS:
            self.on_enter(span)

    def on_end(self, span: Any) -> None:
        """
        Finish the OpenTelemetry span of a Provenant span that just ended.

        Args:
            span: The Provenant span.
        """
        data = span.observer_data
        otel_span = data.get(SPAN_KEY)
        if otel_span is None or data.get(ENDED_KEY):
            return
        data[ENDED_KEY] = True
        while data.get(TOKENS_KEY):
            self.on_exit(span)
        if span.kind == "llm":
            # The model may be known only once the reply was read.
            otel_span.update_name(_attributes.span_name(span))
        attributes = _attributes.end_attributes(
            span, capture_content=self._capture_content, prepare=self._prepare
        )
        if attributes:
            otel_span.set_attributes(attributes)
        error = span.error
        if span.status == "error" or (error is not None and span.status != "cancelled"):
            description = f"{type(error).__name__}: {error}" if error is not None else None
            otel_span.set_status(Status(StatusCode.ERROR, description))
            if error is not None:
                otel_span.record_exception(error, escaped=True)
        otel_span.end(end_time=span.end_time_ns)

    def on_enter(self, span: Any) -> None:
        """
        Make a span's OpenTelemetry span the current OpenTelemetry context.

        Called when the Provenant span becomes current on this thread (a session block
        is entered; an LLM call's provider request runs), so that the spans the host or
        a provider SDK starts meanwhile (anthropic's ``anthropic.messages.create``) are
        its children. Each call is undone by one :meth:`on_exit`.

        Args:
            span: The Provenant span, already started.
        """
        data = span.observer_data
        otel_span = data.get(SPAN_KEY)
        if otel_span is None:
            return
        token = otel_context.attach(trace.set_span_in_context(otel_span))
        tokens = data.get(TOKENS_KEY)
        if tokens is None:
            data[TOKENS_KEY] = [token]
        else:
            tokens.append(token)

    def on_exit(self, span: Any) -> None:
        """
        Restore the OpenTelemetry context that was current before the last :meth:`on_enter`.

        Like the tracing core's own context, the value before is restored whatever was
        attached since; a token from another ``contextvars.Context`` (the span ends in
        another task or thread) restores nothing there.

        Args:
            span: The Provenant span.
        """
        tokens = span.observer_data.get(TOKENS_KEY)
        if not tokens:
            return
        token = tokens.pop()
        if isinstance(token, contextvars.Token):
            # ValueError: created in another contextvars.Context, which is not this
            # one; OpenTelemetry's detach() would log it as an error on every call.
            with contextlib.suppress(ValueError):
                token.var.reset(token)
        else:  # a runtime context that is not contextvars-based (OTEL_PYTHON_CONTEXT)
            otel_context.detach(token)

    def _prepare(self, value: Any) -> Any:
        """Mask and cut one content, as the tracing core does for the content of turns."""
        return prepare_content(value, self._mask, self._max_content_bytes)[0]

    def _parent_context(self, span: Any) -> Optional[otel_context.Context]:
        """Return the OpenTelemetry parent of a span (``None``: the current context)."""
        parent = span.parent
        if parent is None and span.kind != "session":
            # An LLM call in a single-call session has no parent span: its session's root.
            parent = span.session.root_span
        parent_otel = parent.observer_data.get(SPAN_KEY) if parent is not None else None
        if parent_otel is None:
            # A session's root: join the host's active OpenTelemetry span, if any.
            return None
        current = trace.get_current_span()
        if current is parent_otel:
            return None
        if (
            parent.observer_data.get(TOKENS_KEY)
            and current.is_recording()
            and current.get_span_context().trace_id == parent_otel.get_span_context().trace_id
        ):
            # The parent is current here and the host started a span inside it: nest
            # under the host's span, which is where this call really happens.
            return None
        return trace.set_span_in_context(parent_otel)
