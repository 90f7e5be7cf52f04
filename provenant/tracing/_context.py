"""
The one process-wide context of the tracing layer: which span (and so which session) is current.

::

    span = current_span()          # Optional[Span]
    session = current_session()    # Optional[Session], whichever client opened it
    current_span_path()            # ["plan", "search"]: spans below the session, outermost first

A single :class:`contextvars.ContextVar` holds the current *frame*: a plain tuple
``(name, kind, parent frame, session, span or None)``. A traced call joining a session
with no observers pushes a frame without building a :class:`~provenant.tracing.Span`
(a tuple costs a fraction of an object with four attributes: this is the hot path); the
span is built from its frame only when someone asks for it (:func:`current_span`, a
span started inside it). asyncio tasks copy the context; threads get it through
:func:`provenant.wrap_context` and :class:`provenant.ThreadPoolExecutor`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Optional, Tuple

if TYPE_CHECKING:
    from provenant.tracing._session import Session
    from provenant.tracing._span import Span

__all__ = ["current_session", "current_span", "current_span_path"]

# (name, kind, parent frame, session, span or None); typed loosely: it nests.
Frame = Tuple[str, str, Any, "Session", Optional["Span"]]

_current: ContextVar[Optional[Frame]] = ContextVar("provenant.current_frame", default=None)

# The session blocks entered in this context, innermost first, as a linked list of
# (token of _current or None, the session the block owns (ends) or None, rest).
_Entry = Tuple[Optional["Token[Optional[Frame]]"], Optional["Session"], object]
_entries: ContextVar[Optional[_Entry]] = ContextVar("provenant.session_blocks", default=None)

get_frame = _current.get
set_frame = _current.set
reset_current = _current.reset


def frame_of(span: Span) -> Frame:
    """The frame that makes ``span`` current, under the frame current now."""
    return (span.name, span.kind, _current.get(), span.session, span)


def set_current(span: Span) -> Token[Optional[Frame]]:
    """Make ``span`` current; undo with :func:`reset_current` and the token returned."""
    return _current.set((span.name, span.kind, _current.get(), span.session, span))


def span_of(frame: Optional[Frame]) -> Optional[Span]:
    """The span of a frame, built (with its parents) when the frame has none."""
    if frame is None:
        return None
    span = frame[4]
    if span is None:
        from provenant.tracing._span import new_span

        span = new_span(frame[0], frame[1], span_of(frame[2]), frame[3])
    return span


def get_current() -> Optional[Span]:
    """Return the current span, building it once if the current frame has none."""
    frame = _current.get()
    if frame is None or frame[4] is not None:
        return None if frame is None else frame[4]
    span = span_of(frame)
    # Keep it for the rest of this frame: its pusher resets the variable past this value.
    _current.set((frame[0], frame[1], frame[2], frame[3], span))
    return span


def current_span() -> Optional[Span]:
    """
    Return the span current in this context (a traced call or a session's root span).

    .. versionadded:: 0.1
    """
    return get_current()


def current_session() -> Optional[Session]:
    """
    Return the session current in this context, whichever client opened it.

    .. versionadded:: 0.1
    """
    frame = _current.get()
    return None if frame is None else frame[3]


def span_path(span: Optional[Span]) -> list[str]:
    """Return the names of the spans from the session's root down to ``span``, outermost first.

    The session's root span and the span that opened the session are left out: the
    opening span's input is in the session's metadata already.
    """
    names: list[str] = []
    session = None if span is None else span.session
    while span is not None and span.kind != "session" and span.session is session:
        if not span._opening:
            names.append(span.name)
        span = span.parent
    names.reverse()
    return names


def frame_path(frame: Optional[Frame]) -> list[str]:
    """:func:`span_path` of a frame, without building any span."""
    names: list[str] = []
    session = None if frame is None else frame[3]
    while frame is not None and frame[1] != "session" and frame[3] is session:
        span = frame[4]
        if span is None or not span._opening:
            names.append(frame[0])
        frame = frame[2]
    names.reverse()
    return names


def current_span_path() -> list[str]:
    """Return the span path of the current context (see :func:`span_path`)."""
    return frame_path(_current.get())


def push_block(span: Optional[Span], owner: Optional[Session]) -> None:
    """Enter a session block: make ``span`` current (unless None) and remember how to leave."""
    token = set_current(span) if span is not None else None
    _entries.set((token, owner, _entries.get()))


def pop_block() -> Optional[Session]:
    """Leave the innermost session block of this context, restoring the span before it.

    Returns:
        The session the block owns (to be ended by the caller), or None.
    """
    entry = _entries.get()
    if entry is None:
        return None
    token, owner, rest = entry
    _entries.set(rest)  # type: ignore[arg-type]
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:
            # Left from another context than it was entered in: restore the value only.
            _current.set(token.old_value if token.old_value is not Token.MISSING else None)
    return owner
