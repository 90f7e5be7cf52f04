"""
The one process-wide context of the tracing layer: which span (and so which session) is current.

::

    span = current_span()          # Optional[Span]
    session = current_session()    # Optional[Session], whichever client opened it
    current_span_path()            # ["plan", "search"]: spans below the session, outermost first

A single :class:`contextvars.ContextVar` holds the current :class:`~provenant.tracing.Span`;
the current session is that span's session. asyncio tasks copy it; threads get it through
:func:`provenant.wrap_context` and :class:`provenant.ThreadPoolExecutor`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:
    from provenant.tracing._session import Session
    from provenant.tracing._span import Span

__all__ = ["current_session", "current_span", "current_span_path"]

_current: ContextVar[Optional[Span]] = ContextVar("provenant.current_span", default=None)

# The session blocks entered in this context, innermost first, as a linked list of
# (token of _current or None, whether the block owns the session's end, rest).
_Entry = Tuple[Optional["Token[Optional[Span]]"], Optional["Session"], object]
_entries: ContextVar[Optional[_Entry]] = ContextVar("provenant.session_blocks", default=None)

get_current = _current.get
set_current = _current.set
reset_current = _current.reset


def current_span() -> Optional[Span]:
    """
    Return the span current in this context (a traced call or a session's root span).

    .. versionadded:: 0.1
    """
    return _current.get()


def current_session() -> Optional[Session]:
    """
    Return the session current in this context, whichever client opened it.

    .. versionadded:: 0.1
    """
    span = _current.get()
    return None if span is None else span.session


def span_path(span: Optional[Span]) -> list[str]:
    """Return the names of the spans from the session's root down to ``span``, outermost first.

    The session's root span and the span that opened the session are left out: the
    opening span's input is in the session's metadata already.
    """
    names: list[str] = []
    while span is not None and span.kind != "session":
        if not span._opening:
            names.append(span.name)
        span = span.parent
    names.reverse()
    return names


def current_span_path() -> list[str]:
    """Return the span path of the current context (see :func:`span_path`)."""
    return span_path(_current.get())


def push_block(span: Optional[Span], owner: Optional[Session]) -> None:
    """Enter a session block: make ``span`` current (unless None) and remember how to leave."""
    token = _current.set(span) if span is not None else None
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
