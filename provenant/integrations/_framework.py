"""
What the framework integrations (OpenAI Agents SDK, LangChain) share: a session opened
or joined for a run, spans under an explicit parent, TOOL turns, and model calls.

A framework tells us where we are by ids (a trace's span ids, LangChain run ids), not by
our context variable, so these helpers take the parent as a
:class:`~provenant.tracing._context.Frame` and never read the current one::

    session = open_session(tracer, "Triage", metadata={"traceId": ...})
    frame = root_frame(session)
    child, span = child_frame(frame, "Refunds", "agent")
    record_tool(child, "lookup", {"id": 1}, "found", latency_ms=3)
    call = model_call(child, SPEC)          # ...then call.kwargs = {...}; call.succeed(reply)
    end_span(span)

Turns are built on the batch processor's worker (``session.add_deferred``), in the session's
event order, as for a provider call.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from provenant.integrations._call import ApiSpec, LlmCall
from provenant.tracing._arguments import NO_OPTIONS, SessionOptions
from provenant.tracing._context import Frame, frame_path, span_of
from provenant.tracing._span import Span, notify_start
from provenant.tracing._transcript import result_forms
from provenant.tracing._turns import Turn

if TYPE_CHECKING:
    from provenant.client import ProvenantClient
    from provenant.tracing._session import Session
    from provenant.tracing._tracer import Tracer

__all__ = [
    "child_frame",
    "end_span",
    "model_call",
    "now_ms",
    "open_session",
    "record_tool",
    "recorder",
    "root_frame",
]


def recorder(provenant: Optional[ProvenantClient]) -> ProvenantClient:
    """The client that records: the one given, or the default client (looked up now)."""
    if provenant is not None:
        return provenant
    from provenant._default import get_client

    return get_client()


def now_ms() -> float:
    """A monotonic clock in milliseconds, for latencies."""
    return time.perf_counter() * 1000.0


def open_session(
    tracer: Tracer,
    agent: str,
    *,
    metadata: Optional[Mapping[str, Any]] = None,
    options: SessionOptions = NO_OPTIONS,
) -> Optional[Session]:
    """
    Start a session (not made current) for a framework run; ``None`` when nothing is
    recorded (tracing disabled, or the session not sampled).
    """
    if not tracer.enabled:
        return None
    merged = dict(options.metadata) if options.metadata else {}
    merged.update(metadata or {})
    session = tracer.new_session(agent, options._replace(metadata=merged))
    if not session.sampled:
        return None
    session._start()
    return session


def root_frame(session: Session) -> Frame:
    """The frame of a session's root span: the parent of the run's first spans."""
    root = session.root_span
    return Frame(root.name if root is not None else "invoke_agent", "session", None, session, root)


def child_frame(
    parent: Frame, name: str, kind: str, attributes: Optional[Mapping[str, Any]] = None
) -> tuple[Frame, Optional[Span]]:
    """
    A span under ``parent``: its frame (which gives turns their span path) and, when
    observers (the OpenTelemetry export) are registered, a real :class:`Span` they are
    told of. End the span with :func:`end_span`.
    """
    session = parent.session
    observers = session._observers if session.sampled else None
    span: Optional[Span] = None
    if observers:
        span = Span(name, kind, span_of(parent), session, observers)
        if attributes:
            span.attributes.update(attributes)
        notify_start(observers, span)
    return Frame(name, kind, parent, session, span), span


def end_span(
    span: Optional[Span],
    *,
    error: Optional[BaseException] = None,
    attributes: Optional[Mapping[str, Any]] = None,
) -> None:
    """End a span from :func:`child_frame` (``None``: nobody observes, nothing to do)."""
    if span is None:
        return
    if attributes:
        span.attributes.update(attributes)
    span.end(error=error, status="error" if error is not None else None)


def record_tool(
    frame: Frame,
    name: str,
    arguments: Any,
    output: Any,
    *,
    latency_ms: Optional[int] = None,
    error: Optional[str] = None,
    tool_call_id: Optional[str] = None,
    extra: Optional[Mapping[str, Any]] = None,
    on_worker: Optional[Callable[[], None]] = None,
    note: bool = True,
) -> None:
    """
    Record one tool run as a TOOL turn in the frame's session, in the span of ``frame``.

    The result is noted in the transcript (on the worker, in the session's order), so it
    is not recorded again when the framework sends it back to the model.

    Args:
        frame: The tool's frame (its span path ends with the tool).
        name: The tool's name (``metadata.toolName``).
        arguments: What the tool was called with (``metadata.toolInput``).
        output: What it returned: the turn's content.
        latency_ms: How long it ran.
        error: ``"Type: message"`` when it raised: the turn's content, ``metadata.error``.
        tool_call_id: The model's id of the call (``metadata.toolCallId``).
        extra: More metadata.
        on_worker: Run on the worker before the turn is built (bookkeeping in order).
        note: Note the result in the transcript (False: the caller recognises the result
            sent back by other means, such as its tool call id).
    """
    session = frame.session
    if not session.sampled:
        return
    path = frame_path(frame)
    metadata: dict[str, Any] = {"toolName": name}
    if arguments is not None:
        metadata["toolInput"] = arguments
    if tool_call_id is not None:
        metadata["toolCallId"] = tool_call_id
    if extra:
        metadata.update(extra)
    if error is not None:
        metadata["error"] = error
    content = error if error is not None and output is None else output
    # Taken now, on the caller's thread: the framework may change the value later.
    forms = result_forms(output) if note and output is not None else frozenset()

    def work() -> list[Turn]:
        if on_worker is not None:
            on_worker()
        session.transcript.note_result_forms(forms)
        body = session.build_turn(
            "TOOL",
            "" if content is None else content,
            latency_ms=latency_ms,
            metadata=metadata,
            span_path=path,
        )
        return [] if body is None else [body]

    session.add_deferred(work)


def model_call(frame: Frame, api: ApiSpec, *, name: str = "chat") -> LlmCall:
    """
    Begin recording one model call in the span of ``frame`` (it joins the session).

    Set ``call.kwargs`` to the request (in ``api``'s form) before ending it with
    ``call.succeed(reply)`` or ``call.fail(exc)``; latency counts from now.
    """
    session = frame.session
    tracer = session._tracer
    observed = bool(session._observers)
    capture = observed and bool(tracer.capture_content)
    span: Optional[Span] = None
    if observed:
        span = Span(name, "llm", span_of(frame), session, session._observers)
        span.attributes.update({"provider": api.provider, "operation": "chat", "stream": False})
        notify_start(session._observers, span)
    return LlmCall(api, {}, session, False, span, frame, capture, observed, False)
