"""
The one process-wide context of the tracing layer: which span (and so which session) is current.

::

    span = current_span()          # Optional[Span]
    session = current_session()    # Optional[Session], whichever client opened it
    current_span_path()            # ["plan", "search"]: spans below the session, outermost first

A single :class:`contextvars.ContextVar` holds the current :class:`Frame`: a name, a
kind, the parent frame, the session and the span, if one was built. A traced call
joining a session with no observers pushes a frame without building a
:class:`~provenant.tracing.Span` (a frame costs a fraction of a span: this is the hot
path); the span is built from its frame only when someone asks for it
(:func:`current_span`, a span started inside it). asyncio tasks copy the context;
threads get it through :func:`provenant.wrap_context` and
:class:`provenant.ThreadPoolExecutor`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:
    from provenant.tracing._session import Session
    from provenant.tracing._span import Span

__all__ = ["Frame", "current_session", "current_span", "current_span_path"]


class Frame:
    """
    One level of the context: a traced call, an LLM call or a session block's root.

    Attributes:
        name: The span's name.
        kind: ``"session"``, ``"agent"``, ``"step"``, ``"tool"`` or ``"llm"``.
        parent: The frame it was entered under, if any.
        session: The session it records into.
        span: Its span, once built (kept by :func:`get_current` when asked for).
    """

    __slots__ = ("kind", "name", "parent", "session", "span")

    def __init__(
        self,
        name: str,
        kind: str,
        parent: Optional[Frame],
        session: Session,
        span: Optional[Span] = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.parent = parent
        self.session = session
        self.span = span


_new = object.__new__
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
    return Frame(span.name, span.kind, _current.get(), span.session, span)


def set_current(span: Span) -> Token[Optional[Frame]]:
    """Make ``span`` current; undo with :func:`reset_current` and the token returned."""
    frame = _new(Frame)  # filled without an __init__ call: a session block's hot path
    frame.name = span.name
    frame.kind = span.kind
    frame.parent = _current.get()
    frame.session = span.session
    frame.span = span
    return _current.set(frame)


def span_of(frame: Optional[Frame]) -> Optional[Span]:
    """The span of a frame, built (with its parents) when the frame has none."""
    if frame is None:
        return None
    span = frame.span
    if span is None:
        from provenant.tracing._span import new_span

        span = new_span(frame.name, frame.kind, span_of(frame.parent), frame.session)
    return span


def get_current() -> Optional[Span]:
    """Return the current span, building it once if the current frame has none."""
    frame = _current.get()
    if frame is None or frame.span is not None:
        return None if frame is None else frame.span
    # Kept for the rest of this frame, in every context that shares it.
    span = frame.span = span_of(frame)
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
    return None if frame is None else frame.session


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
    session = None if frame is None else frame.session
    while frame is not None and frame.kind != "session" and frame.session is session:
        span = frame.span
        if span is None or not span._opening:
            names.append(frame.name)
        frame = frame.parent
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
