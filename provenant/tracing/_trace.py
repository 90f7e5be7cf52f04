"""
``@trace``: spans around functions, coroutines, generators and async generators.

::

    @client.trace                     # opens a session when none is active, joins otherwise
    def answer(question: str) -> str: ...

    @client.trace(kind="tool")        # also records the call as a TOOL turn
    def search(query: str) -> list[str]: ...

Everything that can be decided once is decided at decoration time (the kind of callable,
the span's name, whether a call may take the fast path). A call joining an active session
with no observers registered costs a span object and one context-variable set and reset:
no lock, no logging, no argument binding.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable, Literal, Optional, TypeVar, cast

from provenant._logging import log_fault
from provenant.errors import ConfigurationError
from provenant.tracing._context import get_current, reset_current, set_current
from provenant.tracing._payload import prepare_content, to_jsonable
from provenant.tracing._session import Session
from provenant.tracing._span import Span, new_span, notify_start

__all__ = ["TraceKind", "make_trace_decorator"]

#: What a traced function is: an agent entrypoint, a step inside one, or a tool.
TraceKind = Literal["agent", "step", "tool"]

F = TypeVar("F", bound=Callable[..., Any])

_perf_counter = time.perf_counter
_time_ns = time.time_ns
_new = object.__new__


class _Spec:
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


class _Call:
    """One traced call on the slow path: its span, and the session it owns, if any."""

    __slots__ = ("owned", "span", "spec", "started")

    def __init__(self, spec: _Spec, span: Span, owned: Optional[Session]) -> None:
        self.spec = spec
        self.span = span
        self.owned = owned
        self.started = _perf_counter()

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
        try:
            span = self.span
            if not span.session.sampled:
                return
            cancelled = isinstance(error, GeneratorExit) or type(error).__name__ == "CancelledError"
            if self.spec.kind == "tool" and not cancelled:
                self._record_tool(None, error)
            span.end(error=None if cancelled else error, status="cancelled" if cancelled else None)
            owned = self.owned
            if owned is not None:
                owned.set_status("CANCELLED" if cancelled else "FAILED")
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
        if error is not None:
            metadata["error"] = f"{type(error).__name__}: {error}"
            content: Any = metadata["error"]
        else:
            content = result
            if tracer.capture_content:
                span.attributes["tool_result"] = to_jsonable(
                    result, tracer.settings.max_content_bytes
                )[0]
        session.add_turn("TOOL", content, latency_ms=latency_ms, metadata=metadata)
        if error is None:
            session.transcript.note_tool_result(result)


def _capture(spec: _Spec, session: Session, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    tracer = session._tracer
    if not spec.capture_input or not tracer.capture_content:
        return None
    settings = tracer.settings
    return prepare_content(spec.bind(args, kwargs), settings.mask, settings.max_content_bytes)[0]


def _open(
    spec: _Spec, tracer: Any, parent: Optional[Span], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Call:
    """Open the session this call runs in (a root session, or a child of another agent's)."""
    agent = spec.agent_id if spec.agent_id is not None else tracer.default_agent()
    session: Session = tracer.new_session(agent)
    if parent is not None:
        session.parent = parent.session
        session.sampled = session.sampled and parent.session.sampled
    if not session.sampled:
        session._start(parent)
        assert session.root_span is not None
        return _Call(spec, session.root_span, None)
    captured = _capture(spec, session, args, kwargs)
    session.metadata["function"] = spec.qualname
    if captured is not None:
        session.metadata["input"] = captured
    session._start(parent)
    observers = session._observers
    span = Span(spec.name, spec.kind, session.root_span, session, observers)
    span._opening = True
    span.input = captured
    _describe(spec, span)
    if observers:
        notify_start(observers, span)
    return _Call(spec, span, session)


def _join(
    spec: _Spec, parent: Span, session: Session, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Call:
    """A child span in the active session; input is bound only when someone reads it."""
    observers = session._observers
    span = Span(spec.name, spec.kind, parent, session, observers)
    if spec.kind == "tool" or observers:
        span.input = _capture(spec, session, args, kwargs)
    _describe(spec, span)
    if observers:
        notify_start(observers, span)
    return _Call(spec, span, None)


def _describe(spec: _Spec, span: Span) -> None:
    if spec.kind == "tool":
        span.attributes["tool_name"] = spec.name
        if span.input is not None:
            span.attributes["tool_arguments"] = span.input
    else:
        span.attributes["function"] = spec.qualname


def _begin(
    spec: _Spec, parent: Optional[Span], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Optional[_Call]:
    """The slow path: None means "call through untraced" (disabled, or a fault of ours)."""
    try:
        if parent is None:
            tracer = spec.get_client()._tracer
            if not tracer.enabled:
                return None
            return _open(spec, tracer, None, args, kwargs)
        session = parent.session
        if not session.sampled:
            return None
        if spec.agent_id is not None and not session._tracer.same_agent(
            spec.agent_id, session.agent
        ):
            return _open(spec, spec.get_client()._tracer, parent, args, kwargs)
        return _join(spec, parent, session, args, kwargs)
    except ConfigurationError:
        raise
    except Exception as exc:
        log_fault("trace-start", f"could not trace a call of {spec.qualname}; ran it untraced", exc)
        return None


def _wrap_function(spec: _Spec) -> Callable[..., Any]:
    func = spec.func
    name = spec.name
    kind = spec.kind
    fast = kind != "tool" and spec.agent_id is None
    get = get_current
    set_ = set_current
    reset = reset_current
    new = _new
    span_type = Span

    def traced(*args: Any, **kwargs: Any) -> Any:
        parent = get()
        if fast and parent is not None:
            session = parent.session
            if not session.sampled:
                return func(*args, **kwargs)
            if not session._observers:
                # The hot path: a span built inline (no __init__ frame), made current
                # for the call. Nobody reads its output (no observers), so none is kept.
                span = new(span_type)
                span.name = name
                span.kind = kind
                span.parent = parent
                span.session = session
                token = set_(span)
                try:
                    result = func(*args, **kwargs)
                except BaseException as exc:
                    span.status = "error"
                    span.error = exc
                    raise
                finally:
                    reset(token)
                    span._end = 0
                return result
        call = _begin(spec, parent, args, kwargs)
        if call is None:
            return func(*args, **kwargs)
        token = set_(call.span)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            reset(token)
            call.fail(exc)
            raise
        reset(token)
        call.finish(result)
        return result

    return traced


def _wrap_coroutine(spec: _Spec) -> Callable[..., Any]:
    func = spec.func
    name = spec.name
    kind = spec.kind
    fast = kind != "tool" and spec.agent_id is None

    async def traced(*args: Any, **kwargs: Any) -> Any:
        parent = get_current()
        if fast and parent is not None:
            session = parent.session
            if not session.sampled:
                return await func(*args, **kwargs)
            if not session._observers:
                span = new_span(name, kind, parent, session)
                token = set_current(span)
                try:
                    return await func(*args, **kwargs)
                except BaseException as exc:
                    cancelled = type(exc).__name__ == "CancelledError"
                    span.status = "cancelled" if cancelled else "error"
                    if not cancelled:
                        span.error = exc
                    raise
                finally:
                    reset_current(token)
                    span._end = 0
        call = _begin(spec, parent, args, kwargs)
        if call is None:
            return await func(*args, **kwargs)
        token = set_current(call.span)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            reset_current(token)
            call.fail(exc)
            raise
        reset_current(token)
        call.finish(result)
        return result

    return traced


def _wrap_generator(spec: _Spec) -> Callable[..., Any]:
    func = spec.func

    def traced(*args: Any, **kwargs: Any) -> Any:
        call = _begin(spec, get_current(), args, kwargs)
        inner = func(*args, **kwargs)
        if call is None:
            return (yield from inner)
        span = call.span
        sent: Any = None
        thrown: Optional[BaseException] = None
        while True:
            # The span is current only while the generator's own code runs.
            token = set_current(span)
            try:
                if thrown is None:
                    item = inner.send(sent)
                else:
                    item, thrown = inner.throw(thrown), None
            except StopIteration as stop:
                reset_current(token)
                call.finish(stop.value)
                return stop.value
            except BaseException as exc:
                reset_current(token)
                call.fail(exc)
                raise
            reset_current(token)
            try:
                sent = yield item
            except GeneratorExit as exit_:
                _close_inner(inner, span, call, exit_)
                raise
            except BaseException as exc:
                thrown, sent = exc, None

    return traced


def _close_inner(inner: Any, span: Span, call: _Call, exit_: GeneratorExit) -> None:
    """A consumer broke off: close the inner generator inside its span, end it cancelled."""
    token = set_current(span)
    try:
        inner.close()
    except BaseException as exc:
        reset_current(token)
        call.fail(exc)
        raise
    reset_current(token)
    call.fail(exit_)


def _wrap_async_generator(spec: _Spec) -> Callable[..., Any]:
    func = spec.func

    async def traced(*args: Any, **kwargs: Any) -> Any:
        call = _begin(spec, get_current(), args, kwargs)
        inner = func(*args, **kwargs)
        if call is None:
            async for item in inner:
                yield item
            return
        span = call.span
        sent: Any = None
        thrown: Optional[BaseException] = None
        while True:
            token = set_current(span)
            try:
                if thrown is None:
                    item = await inner.asend(sent)
                else:
                    item, thrown = await inner.athrow(thrown), None
            except StopAsyncIteration:
                reset_current(token)
                call.finish(None)
                return
            except BaseException as exc:
                reset_current(token)
                call.fail(exc)
                raise
            reset_current(token)
            try:
                sent = yield item
            except GeneratorExit as exit_:
                token = set_current(span)
                try:
                    await inner.aclose()
                except BaseException as exc:
                    reset_current(token)
                    call.fail(exc)
                    raise
                reset_current(token)
                call.fail(exit_)
                raise
            except BaseException as exc:
                thrown, sent = exc, None

    return traced


def make_trace_decorator(
    get_client: Callable[[], Any],
    *,
    name: Optional[str] = None,
    kind: TraceKind = "agent",
    agent_id: Optional[str] = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]:
    """
    Build the ``@trace`` decorator of a client (looked up on each call, not at decoration).

    Args:
        get_client: Returns the client whose tracer opens sessions for these calls.
        name: The span's name (default: the function's qualified name).
        kind: ``"agent"``, ``"step"`` or ``"tool"``.
        agent_id: Agent of a session the call opens; a different agent than the active
            session's opens a child session.
        capture_input: Record the bound arguments (opening and tool spans, or for observers).
        capture_output: Keep the return value on the span (and a tool's TOOL turn).

    Returns:
        A decorator that keeps the function's signature, docstring and ``__wrapped__``.
    """
    if kind not in ("agent", "step", "tool"):
        raise ValueError(f"kind={kind!r}; use 'agent', 'step' or 'tool'.")

    def decorator(func: F) -> F:
        if isinstance(func, staticmethod):
            return cast(F, staticmethod(decorator(func.__func__)))
        if isinstance(func, classmethod):
            return cast(F, classmethod(decorator(func.__func__)))
        spec = _Spec(func, get_client, name, kind, agent_id, capture_input, capture_output)
        if inspect.isasyncgenfunction(func):
            traced = _wrap_async_generator(spec)
        elif inspect.isgeneratorfunction(func):
            traced = _wrap_generator(spec)
        elif inspect.iscoroutinefunction(func):
            traced = _wrap_coroutine(spec)
        else:
            traced = _wrap_function(spec)
        functools.update_wrapper(traced, func)
        return cast(F, traced)

    return decorator
