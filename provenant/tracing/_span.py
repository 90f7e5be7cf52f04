"""
:class:`Span`: one traced operation (a session's root, an agent step, a tool, an LLM call).

Spans are not turns: they give turns their ``span`` path, and observers (the
OpenTelemetry export) read them. A span is cheap: ``__slots__``, no lock, and its
observers are only called when some are registered::

    span = tracer.start_span("chat claude", kind="llm", session=session)
    span.set_attributes({"request_model": "claude"})
    span.end()
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, overload

from provenant._logging import log_fault

if TYPE_CHECKING:
    from provenant.tracing._session import Session

__all__ = [
    "Span",
    "entered",
    "new_span",
    "notify_end",
    "notify_enter",
    "notify_exit",
    "notify_start",
]

_time_ns = time.time_ns
_new = object.__new__


def _notify(observers: Iterable[Any], hook_name: str, span: Span, optional: bool) -> None:
    """Call ``hook_name(span)`` on each observer (skipping those without it when
    ``optional``); a fault is logged, never raised."""
    for observer in observers:
        try:
            hook = getattr(observer, hook_name, None) if optional else getattr(observer, hook_name)
            if hook is not None:
                hook(span)
        except Exception as exc:
            log_fault("observer", f"observer {type(observer).__name__}.{hook_name} failed", exc)


def notify_start(observers: list[Any], span: Span) -> None:
    """Call ``on_start(span)`` on every observer; a fault is logged, never raised."""
    _notify(observers, "on_start", span, optional=False)


def notify_end(observers: list[Any], span: Span) -> None:
    """Call ``on_end(span)`` on every observer; a fault is logged, never raised."""
    _notify(observers, "on_end", span, optional=False)


def notify_enter(observers: list[Any], span: Span) -> None:
    """Call the optional ``on_enter(span)`` of every observer: ``span`` is current now.

    Only where the span is made current for a block of code on this thread (a session
    block, a provider request), and always followed by :func:`notify_exit` on the same
    thread; the OpenTelemetry export makes its span the current OpenTelemetry context.
    """
    _notify(observers, "on_enter", span, optional=True)


def notify_exit(observers: list[Any], span: Span) -> None:
    """Call the optional ``on_exit(span)`` of every observer, in reverse order of entry."""
    _notify(reversed(observers), "on_exit", span, optional=True)


class entered:  # lower case: used like a function, ``with entered(span):``
    """
    ``with entered(span):`` tells the observers ``span`` is current for the block.

    The integrations wrap the provider request in it, so that the provider SDK's own
    OpenTelemetry span (anthropic's) is a child of the call's exported span. ``None``
    (a call nobody observes has no span) does nothing.
    """

    __slots__ = ("_observers", "_span")

    def __init__(self, span: Optional[Span]) -> None:
        self._span = span
        self._observers: Optional[list[Any]] = None if span is None else span._observers

    def __enter__(self) -> Optional[Span]:
        if self._observers:
            notify_enter(self._observers, self._span)  # type: ignore[arg-type]
        return self._span

    def __exit__(self, *exc_info: object) -> None:
        if self._observers:
            notify_exit(self._observers, self._span)  # type: ignore[arg-type]


class _LazyDict:
    """A dict attribute created on first read (a non-data descriptor: the instance wins after)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> _LazyDict: ...

    @overload
    def __get__(self, instance: object, owner: type[Any]) -> dict[str, Any]: ...

    def __get__(self, instance: Optional[object], owner: type[Any]) -> Any:
        if instance is None:
            return self
        value: dict[str, Any] = {}
        instance.__dict__[self._name] = value
        return value


def new_span(name: str, kind: str, parent: Optional[Span], session: Session) -> Span:
    """Build an untimed span without observers as cheaply as Python allows (the hot path)."""
    span = _new(Span)
    span.name = name
    span.kind = kind
    span.parent = parent
    span.session = session
    return span


class Span:
    """
    One traced operation inside a session.

    Attributes:
        name: What ran (a function's qualified name, ``invoke_agent <agent>``, ...).
        kind: ``"session"``, ``"agent"``, ``"step"``, ``"tool"`` or ``"llm"``.
        parent: The span current when this one started, or ``None``.
        session: The session the span belongs to.
        start_time_ns: Start, from :func:`time.time_ns` (``0`` for a span nobody
            observes: the hot path does not read the clock).
        end_time_ns: End (``0`` when untimed), or ``None`` while it runs.
        attributes: Free attributes (see HACKING.md "Span attributes").
        status: ``"ok"``, ``"error"`` or ``"cancelled"``.
        error: The exception that ended it, if any.
        input: The captured input, or ``None``.
        output: The captured output, or ``None``.
        observer_data: Free for observers.

    .. versionadded:: 0.1
    """

    # The fields every span sets live in slots; the rest are class defaults until a slow
    # path sets them (into the lazily created instance dict), so that a span joining a
    # session on the hot path costs four attribute stores and no clock reading.
    __slots__ = ("__dict__", "_end", "kind", "name", "parent", "session")

    start_time_ns: int = 0
    status: str = "ok"
    error: Optional[BaseException] = None
    input: Any = None
    output: Any = None
    _opening: bool = False
    _observers: Optional[list[Any]] = None
    attributes: _LazyDict = _LazyDict("attributes")
    observer_data: _LazyDict = _LazyDict("observer_data")

    def __init__(
        self,
        name: str,
        kind: str,
        parent: Optional[Span],
        session: Session,
        observers: Optional[list[Any]] = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.parent = parent
        self.session = session
        self.start_time_ns = _time_ns()
        if observers:
            self._observers = observers

    @property
    def end_time_ns(self) -> Optional[int]:
        """End, from :func:`time.time_ns`, or ``None`` while the span runs."""
        return getattr(self, "_end", None)

    def __repr__(self) -> str:
        return f"Span(name={self.name!r}, kind={self.kind!r}, status={self.status!r})"

    def set_attribute(self, key: str, value: Any) -> None:
        """
        Set one attribute.

        .. versionadded:: 0.1
        """
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """
        Set several attributes.

        .. versionadded:: 0.1
        """
        self.attributes.update(attributes)

    @property
    def ended(self) -> bool:
        """
        Whether :meth:`end` was called.

        .. versionadded:: 0.1
        """
        return hasattr(self, "_end")

    def end(self, error: Optional[BaseException] = None, status: Optional[str] = None) -> None:
        """
        End the span (idempotent) and tell the observers.

        Args:
            error: The exception that ended it; sets ``status`` to ``"error"``.
            status: ``"ok"``, ``"error"`` or ``"cancelled"``; wins over ``error``.

        .. versionadded:: 0.1
        """
        if hasattr(self, "_end"):
            return
        self._end = _time_ns()
        if error is not None:
            self.error = error
            self.status = "error"
        if status is not None:
            self.status = status
        observers = self._observers
        if observers:
            notify_end(observers, self)
