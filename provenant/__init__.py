"""
Provenant: record what AI agents do, without slowing or breaking them.

One line records every LLM call of a client::

    import anthropic
    import provenant as prov

    client = prov.instrument(anthropic.Anthropic(), agent_id="Support Bot")

Group many calls into one multi-turn session, and trace your own functions::

    with prov.session("Support Bot", user_id="u1"):
        client.messages.create(...)

    @prov.trace
    def answer(question: str) -> str: ...

With no API key and no base URL, everything goes to an embedded local store
(``.provenant/provenant.db``), browsed with the ``provenant`` command.

.. versionadded:: 0.1
"""

from __future__ import annotations

from provenant._default import (
    configure,
    flush,
    get_client,
    session,
    shutdown,
    start_session,
    stats,
    trace,
)
from provenant._flush_after import flush_after
from provenant._version import __version__
from provenant.client import ProvenantClient
from provenant.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    ProvenantError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from provenant.evals import EvalReport, evaluate
from provenant.integrations import instrument, uninstrument
from provenant.tracing import (
    Session,
    Span,
    ThreadPoolExecutor,
    current_session,
    current_span,
    wrap_context,
)

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "EvalReport",
    "NotFoundError",
    "ProvenantClient",
    "ProvenantError",
    "RateLimitError",
    "ServerError",
    "Session",
    "Span",
    "ThreadPoolExecutor",
    "TransportError",
    "ValidationError",
    "__version__",
    "configure",
    "current_session",
    "current_span",
    "evaluate",
    "flush",
    "flush_after",
    "get_client",
    "instrument",
    "session",
    "shutdown",
    "start_session",
    "stats",
    "trace",
    "uninstrument",
    "wrap_context",
]
