"""
The tracing core: sessions, spans, the process-wide context, ``@trace`` and delivery.

::

    from provenant.tracing import Session, Span, current_session, current_span

    with client.session("Support Bot") as session:
        assert current_session() is session

Recording lives here and never opens a socket; :mod:`provenant.tracing._processor` hands
the records in the background, in batches, to the destination's exporter
(:mod:`provenant.backends._records`).

.. versionadded:: 0.1
"""

from __future__ import annotations

from provenant.tracing._context import current_session, current_span, current_span_path
from provenant.tracing._session import Session
from provenant.tracing._span import Span
from provenant.tracing._threads import ThreadPoolExecutor, wrap_context
from provenant.tracing._trace import TraceKind

__all__ = [
    "Session",
    "Span",
    "ThreadPoolExecutor",
    "TraceKind",
    "current_session",
    "current_span",
    "current_span_path",
    "wrap_context",
]
