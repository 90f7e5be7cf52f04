"""
What one traced call does on the slow path: open or join a session, capture, finish.

``_trace.py`` holds the wrappers and their fast path; everything here runs only when a
call opens a session, is a tool, names another agent, or has observers to tell::

    call = begin(spec, current_span, args, kwargs)   # None: run the call untraced
    ...
    call.finish(result)  /  call.fail(error)
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Callable, Optional

from provenant._logging import log_fault
from provenant.tracing._nesting import CHILD, nesting
from provenant.tracing._payload import prepare_content, to_jsonable
from provenant.tracing._session import Session, exit_status
from provenant.tracing._span import Span, notify_start

__all__ = ["Call", "Spec", "begin"]

_perf_counter = time.perf_counter


class Spec:
    """What a decorated function's calls need, computed once at decoration time."""

    __slots__ = (
        "_signature",
        "agent_id",
        "capture_input",
        "capture_output",
        "func",
        "get_client",
        "kind",
        "name",
        "qualname",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        get_client: Callable[[], Any],
        name: Optional[str],
        kind: str,
        agent_id: Optional[str],
        capture_input: bool,
        capture_output: bool,
    ) -> None:
        qualname = (
            getattr(func, "__qualname__", None)
            or getattr(func, "__name__", None)
            or type(func).__name__
        )
        self.func = func
        self.get_client = get_client
        self.qualname: str = qualname
        self.name: str = name or getattr(func, "__name__", None) or qualname
        self.kind = kind
        self.agent_id = agent_id
        self.capture_input = capture_input
        self.capture_output = capture_output
        self._signature: Optional[inspect.Signature] = None

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by name (``self``/``cls`` left out)."""
        signature = self._signature
        if signature is None:
            signature = self._signature = inspect.signature(self.func)
        try:
            arguments = dict(signature.bind_partial(*args, **kwargs).arguments)
        except TypeError:
            return {"args": list(args), "kwargs": kwargs}
        first = next(iter(signature.parameters), None)
        if first in ("self", "cls"):
            arguments.pop(first, None)
        return arguments


class Call:
    """One traced call on the slow path: its span, and the session it owns, if any."""

    __slots__ = ("input_truncated", "owned", "span", "spec", "started")

    def __init__(self, spec: Spec, span: Span, owned: Optional[Session]) -> None:
        self.spec = spec
        self.span = span
        self.owned = owned
        self.started = _perf_counter()
        self.input_truncated = False  # the captured input was cut to max_content_bytes

    def finish(self, result: Any) -> None:
        try:
            span = self.span
            if not span.session.sampled:
                return
            if self.spec.capture_output:
                span.output = result
            if self.spec.kind == "tool":
                self._record_tool(result, None)
            span.end()
            if self.owned is not None:
                self.owned.end()
        except Exception as exc:
            log_fault("trace-finish", "could not finish a traced call's span", exc)

    def fail(self, error: BaseException) -> None:
        """End the call ended by ``error``: failed by an :class:`Exception` or an exit
        code, cancelled by any other :class:`BaseException`, a normal end by
        ``sys.exit(0)`` (see :func:`~provenant.tracing._session.exit_status`)."""
        try:
            span = self.span
            if not span.session.sampled:
                return
            status = exit_status(error)
            if status == "FAILED":
                if self.spec.kind == "tool":
                    self._record_tool(None, error)
                span.end(error=error)
            else:
                span.end(status="cancelled" if status == "CANCELLED" else None)
            owned = self.owned
            if owned is not None:
                if status is not None:
                    owned.set_status(status)
                owned.end()
        except Exception as exc:
            log_fault("trace-finish", "could not finish a traced call's span", exc)

    def _record_tool(self, result: Any, error: Optional[BaseException]) -> None:
        span = self.span
        session = span.session
        tracer = session._tracer
        latency_ms = int((_perf_counter() - self.started) * 1000)
        metadata: dict[str, Any] = {"toolName": self.spec.name}
        if span.input is not None:
            metadata["toolInput"] = span.input
            if self.input_truncated:
                metadata["truncated"] = True
        if error is not None:
            metadata["error"] = f"{type(error).__name__}: {error}"
            content: Any = metadata["error"]
        elif not self.spec.capture_output:
            content = ""  # the result stays local: only noted, so it is not recorded later
        else:
            content = result
            if tracer.capture_content:
                span.attributes["tool_result"] = to_jsonable(
                    result, tracer.settings.max_content_bytes
                )[0]
        session._add_tool_turn(content, latency_ms, metadata, result, noted=error is None)


def _capture(
    spec: Spec, session: Session, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, bool]:
    """The call's input as recorded (``None`` when not captured), and whether it was cut."""
    tracer = session._tracer
    if not spec.capture_input or not tracer.capture_content:
        return None, False
    settings = tracer.settings
    return prepare_content(
        spec.bind(args, kwargs), settings.mask, settings.max_content_bytes, keep_shape=True
    )


def _open(
    spec: Spec, tracer: Any, parent: Optional[Span], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Optional[Call]:
    """Open the session this call runs in (a root session, or a child of another agent's);
    ``None`` (run untraced, logged) when there is no agent to open it for."""
    agent = spec.agent_id if spec.agent_id is not None else tracer.settings.agent_id
    if agent is None:
        _log_no_agent(spec)
        return None
    session: Session = tracer.new_session(agent)
    if parent is not None:
        session.parent = parent.session
        session.sampled = (
            parent.session.sampled and session._tracer.enabled
        )  # one decision per tree
    if not session.sampled:
        session._start(parent)
        assert session.root_span is not None
        return Call(spec, session.root_span, None)
    captured, truncated = _capture(spec, session, args, kwargs)
    session.metadata["function"] = spec.qualname
    if captured is not None:
        session.metadata["input"] = captured
        if truncated:
            session.metadata["truncated"] = True
    session._start(parent)
    observers = session._observers
    span = Span(spec.name, spec.kind, session.root_span, session, observers)
    span._opening = True
    span.input = captured
    _describe(spec, span)
    if observers:
        notify_start(observers, span)
    call = Call(spec, span, session)
    call.input_truncated = truncated
    return call


def _log_no_agent(spec: Spec) -> None:
    log_fault(
        "trace-no-agent",
        f"{spec.qualname} (@trace, kind={spec.kind!r}) ran outside any session and no agent "
        "is known (pass agent_id= to trace() or ProvenantClient(), or set PROVENANT_AGENT); "
        "it ran unrecorded. In a thread the caller's session is not current unless carried: "
        "use provenant.wrap_context(fn), provenant.ThreadPoolExecutor or asyncio.to_thread, "
        "and for loop.run_in_executor(None, ...) "
        "loop.set_default_executor(provenant.ThreadPoolExecutor()).",
    )


def _join(
    spec: Spec, parent: Span, session: Session, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Call:
    """A child span in the active session; input is bound only when someone reads it."""
    observers = session._observers
    span = Span(spec.name, spec.kind, parent, session, observers)
    truncated = False
    if spec.kind == "tool" or observers:
        span.input, truncated = _capture(spec, session, args, kwargs)
    _describe(spec, span)
    if observers:
        notify_start(observers, span)
    call = Call(spec, span, None)
    call.input_truncated = truncated
    return call


def _describe(spec: Spec, span: Span) -> None:
    if spec.kind == "tool":
        span.attributes["tool_name"] = spec.name
        if span.input is not None:
            span.attributes["tool_arguments"] = span.input
    else:
        span.attributes["function"] = spec.qualname


def begin(
    spec: Spec, parent: Optional[Span], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Optional[Call]:
    """The slow path: None means "call through untraced" (disabled, no agent to open a
    session for, or a fault of ours); never raises."""
    try:
        if parent is None:
            tracer = spec.get_client()._tracer
            if not tracer.enabled:
                return None
            return _open(spec, tracer, None, args, kwargs)
        session = parent.session
        if not session.sampled:
            return None
        if nesting(session._tracer, session, spec.agent_id) == CHILD:
            return _open(spec, spec.get_client()._tracer, parent, args, kwargs)
        return _join(spec, parent, session, args, kwargs)
    except Exception as exc:
        log_fault("trace-start", f"could not trace a call of {spec.qualname}; ran it untraced", exc)
        return None
