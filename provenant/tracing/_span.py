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
from typing import TYPE_CHECKING, Any, Mapping, Optional

from provenant._logging import log_fault

if TYPE_CHECKING:
    from provenant.tracing._session import Session

__all__ = ["Span", "notify_end", "notify_start"]

_time_ns = time.time_ns


def notify_start(observers: list[Any], span: Span) -> None:
    """Call ``on_start(span)`` on every observer; a fault is logged, never raised."""
    for observer in observers:
        try:
            observer.on_start(span)
        except Exception as exc:
            log_fault("observer", f"observer {type(observer).__name__}.on_start failed", exc)


def notify_end(observers: list[Any], span: Span) -> None:
    """Call ``on_end(span)`` on every observer; a fault is logged, never raised."""
    for observer in observers:
        try:
            observer.on_end(span)
        except Exception as exc:
            log_fault("observer", f"observer {type(observer).__name__}.on_end failed", exc)


class Span:
    """
    One traced operation inside a session.

    Attributes:
        name: What ran (a function's qualified name, ``invoke_agent <agent>``, ...).
        kind: ``"session"``, ``"agent"``, ``"step"``, ``"tool"`` or ``"llm"``.
        parent: The span current when this one started, or ``None``.
        session: The session the span belongs to.
        start_time_ns: Start, from :func:`time.time_ns`.
        end_time_ns: End, or ``None`` while it runs.
        attributes: Free attributes (see HACKING.md "Span attributes").
        status: ``"ok"``, ``"error"`` or ``"cancelled"``.
        error: The exception that ended it, if any.
        input: The captured input, or ``None``.
        output: The captured output, or ``None``.
        observer_data: Free for observers.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_observers",
        "_opening",
        "attributes",
        "end_time_ns",
        "error",
        "input",
        "kind",
        "name",
        "observer_data",
        "output",
        "parent",
        "session",
        "start_time_ns",
        "status",
    )

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
        self.end_time_ns: Optional[int] = None
        self.attributes: dict[str, Any] = {}
        self.status = "ok"
        self.error: Optional[BaseException] = None
        self.input: Any = None
        self.output: Any = None
        self.observer_data: dict[str, Any] = {}
        self._opening = False
        self._observers = observers

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
        return self.end_time_ns is not None

    def end(self, error: Optional[BaseException] = None, status: Optional[str] = None) -> None:
        """
        End the span (idempotent) and tell the observers.

        Args:
            error: The exception that ended it; sets ``status`` to ``"error"``.
            status: ``"ok"``, ``"error"`` or ``"cancelled"``; wins over ``error``.

        .. versionadded:: 0.1
        """
        if self.end_time_ns is not None:
            return
        self.end_time_ns = _time_ns()
        if error is not None:
            self.error = error
            self.status = "error"
        if status is not None:
            self.status = status
        observers = self._observers
        if observers:
            notify_end(observers, self)
