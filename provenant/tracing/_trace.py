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
from typing import Any, Callable, Literal, Optional, TypeVar, cast

from provenant.tracing._arguments import check_text
from provenant.tracing._calls import Call, Spec, begin
from provenant.tracing._context import (
    Frame,
    get_current,
    get_frame,
    reset_current,
    set_current,
    set_frame,
    span_of,
)
from provenant.tracing._span import Span, notify_enter, notify_exit

__all__ = ["TraceKind", "make_trace_decorator"]

#: What a traced function is: an agent entrypoint, a step inside one, or a tool.
TraceKind = Literal["agent", "step", "tool"]

F = TypeVar("F", bound=Callable[..., Any])

_new = object.__new__


def _wrap_function(spec: Spec) -> Callable[..., Any]:
    func = spec.func
    name = spec.name
    kind = spec.kind
    fast = kind != "tool" and spec.agent_id is None
    get = get_frame
    set_ = set_frame
    reset = reset_current

    def traced(*args: Any, **kwargs: Any) -> Any:
        frame = get()
        if fast and frame is not None:
            session = frame.session
            if not session.sampled:
                return func(*args, **kwargs)
            if not session._observers:
                # The hot path: nobody observes spans, so the call gets a frame only (its
                # span is built if asked for), filled here without an __init__ call.
                child = _new(Frame)
                child.name = name
                child.kind = kind
                child.parent = frame
                child.session = session
                child.span = None
                token = set_(child)
                try:
                    if kwargs:
                        return func(*args, **kwargs)
                    return func(*args)
                finally:
                    reset(token)
        parent = span_of(frame)
        call = begin(spec, parent, args, kwargs)
        if call is None:
            return func(*args, **kwargs)
        token = set_current(call.span)
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


def _wrap_coroutine(spec: Spec) -> Callable[..., Any]:
    func = spec.func
    name = spec.name
    kind = spec.kind
    fast = kind != "tool" and spec.agent_id is None

    async def traced(*args: Any, **kwargs: Any) -> Any:
        frame = get_frame()
        if fast and frame is not None:
            session = frame.session
            if not session.sampled:
                return await func(*args, **kwargs)
            if not session._observers:
                token = set_frame(Frame(name, kind, frame, session))
                try:
                    return await func(*args, **kwargs)
                finally:
                    reset_current(token)
        parent = span_of(frame)
        call = begin(spec, parent, args, kwargs)
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


def _wrap_generator(spec: Spec) -> Callable[..., Any]:
    func = spec.func

    def traced(*args: Any, **kwargs: Any) -> Any:
        call = begin(spec, get_current(), args, kwargs)
        inner = func(*args, **kwargs)
        if call is None:
            return (yield from inner)
        span = call.span
        observers = span._observers
        sent: Any = None
        thrown: Optional[BaseException] = None
        resumed = False
        while True:
            # The span is current only while the generator's own code runs (observers
            # are told so; its start already made it current for the first run).
            token = set_current(span)
            if resumed and observers:
                notify_enter(observers, span)
            resumed = True
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
            if observers:
                notify_exit(observers, span)
            try:
                sent = yield item
            except GeneratorExit as exit_:
                _close_inner(inner, span, call, exit_)
                raise
            except BaseException as exc:
                thrown, sent = exc, None

    return traced


def _close_inner(inner: Any, span: Span, call: Call, exit_: GeneratorExit) -> None:
    """A consumer broke off: close the inner generator inside its span, end it cancelled."""
    token = set_current(span)
    if span._observers:
        notify_enter(span._observers, span)
    try:
        inner.close()
    except BaseException as exc:
        reset_current(token)
        call.fail(exc)
        raise
    reset_current(token)
    call.fail(exit_)


def _wrap_async_generator(spec: Spec) -> Callable[..., Any]:
    func = spec.func

    async def traced(*args: Any, **kwargs: Any) -> Any:
        call = begin(spec, get_current(), args, kwargs)
        inner = func(*args, **kwargs)
        if call is None:
            async for item in inner:
                yield item
            return
        span = call.span
        observers = span._observers
        sent: Any = None
        thrown: Optional[BaseException] = None
        resumed = False
        while True:
            token = set_current(span)
            if resumed and observers:
                notify_enter(observers, span)
            resumed = True
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
            if observers:
                notify_exit(observers, span)
            try:
                sent = yield item
            except GeneratorExit as exit_:
                token = set_current(span)
                if observers:
                    notify_enter(observers, span)
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
    check_text("trace()", "name", name)
    check_text("trace()", "agent_id", agent_id)

    def decorator(func: F) -> F:
        if isinstance(func, staticmethod):
            return cast(F, staticmethod(decorator(func.__func__)))
        if isinstance(func, classmethod):
            return cast(F, classmethod(decorator(func.__func__)))
        spec = Spec(func, get_client, name, kind, agent_id, capture_input, capture_output)
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
