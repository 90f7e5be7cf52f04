"""
:class:`Tracer`: one per client; builds sessions and spans, holds observers and the processor.

::

    tracer = Tracer(settings, agents=AgentDirectory(), exporter=exporter, observers=[])
    tracer = client._tracer                # the client builds its own from these parts
    session, owned = tracer.session_for_call(agent_id="Support Bot")
    span = tracer.start_span("chat claude", kind="llm", session=session)
    ...
    span.end()
    if owned:
        session.end()
"""

from __future__ import annotations

import functools
import random
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from provenant._logging import log_fault
from provenant.errors import ConfigurationError
from provenant.tracing._arguments import NO_OPTIONS, SessionOptions
from provenant.tracing._context import get_current, get_frame
from provenant.tracing._nesting import JOIN, nesting
from provenant.tracing._processor import BatchProcessor
from provenant.tracing._session import Session
from provenant.tracing._span import Span, notify_start
from provenant.tracing._turns import recorded_content

if TYPE_CHECKING:
    from provenant.backends._agents import AgentDirectory
    from provenant.backends._records import Exporter
    from provenant.config import Settings

__all__ = ["Tracer"]


class Tracer:
    """
    The tracing side of one :class:`~provenant.ProvenantClient`, built from its parts.

    Args:
        settings: The client's settings.
        agents: The agent directory (shared with the client's explicit calls).
        exporter: Where recorded sessions go (``None``: nowhere, observers only); the
            tracer's batch processor hands it batches, when tracing is enabled.
        observers: Observers of spans (the OpenTelemetry export), in order.

    Attributes:
        settings: The client's settings.
        enabled: False when tracing is off (every entry point is a no-op).
        capture_content: False when only roles, tokens and latency are recorded.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        settings: Settings,
        *,
        agents: AgentDirectory,
        exporter: Optional[Exporter] = None,
        observers: Sequence[Any] = (),
    ) -> None:
        self.settings: Settings = settings
        self.enabled = settings.enabled
        self.capture_content = settings.capture_content
        self._agents = agents
        self._observers: list[Any] = list(observers) if self.enabled else []
        # The integrations' copies of the last single-call session's request messages.
        self._message_copies: Any = None
        self._processor: Optional[BatchProcessor] = None
        self._exporter = exporter
        if self.enabled and exporter is not None:
            self._processor = BatchProcessor(settings, exporter)

    # -- observers --------------------------------------------------------------------

    def add_observer(self, observer: Any) -> None:
        """
        Register an observer: ``on_start(span)`` and ``on_end(span)`` on the caller's thread.

        .. versionadded:: 0.1
        """
        self._observers.append(observer)

    # -- agents -----------------------------------------------------------------------

    def default_agent(self) -> str:
        """Return the client's default agent, or raise :class:`ConfigurationError`."""
        agent = self.settings.agent_id
        if agent is None:
            raise ConfigurationError(
                "no agent given and no default agent configured: pass agent_id= to "
                "session() or trace(), ProvenantClient(agent_id=...), or set PROVENANT_AGENT."
            )
        return agent

    def same_agent(self, first: Optional[str], second: Optional[str]) -> bool:
        """Tell whether two agent references (names or ids) name the same agent, as far as known."""
        if first == second:
            return True
        if first is None or second is None:
            return False
        agents = self._agents
        return (agents.cached(first) or first) == (agents.cached(second) or second)

    def _sample(self) -> bool:
        rate = self.settings.sample_rate
        return rate >= 1.0 or (rate > 0.0 and random.random() < rate)

    # -- sessions ---------------------------------------------------------------------

    def new_session(self, agent: Optional[str], options: SessionOptions = NO_OPTIONS) -> Session:
        """Build a session handle (not started), its sampling decided now.

        A resumed one (``session_id=``) has its transcript seeded from the server's turns
        by the worker, before its first LLM call is de-duplicated (``_resume``).
        """
        session = Session(self, agent, options, sampled=self.enabled and self._sample())
        if options.session_id is not None and session.sampled and self._processor is not None:
            session.transcript.expect_seed(functools.partial(recorded_content, self.settings))
        return session

    def session(self, options: SessionOptions, *, start: bool = False) -> Session:
        """
        Build the handle of :meth:`ProvenantClient.session` (``start=False``) or
        :meth:`~ProvenantClient.start_session` (``start=True``, started, not current),
        from the options the client checked (``check_session_arguments``).

        Raises:
            ConfigurationError: No agent given, none configured, and no session to join.

        .. versionadded:: 0.1
        """
        agent_id = options.agent_id
        needs_agent = options.session_id is None and (start or get_frame() is None)
        if self.enabled and agent_id is None and needs_agent:
            agent_id = self.default_agent()
        session = self.new_session(agent_id, options)
        if start and self.enabled:
            session._start()
        return session

    def session_for_call(self, options: SessionOptions = NO_OPTIONS) -> tuple[Session, bool]:
        """
        The session an LLM call records into: the current one (whichever client opened
        it), or a new single-call session, started but not current, that the caller ends
        (``options`` as ``instrument()`` checked them; ``session_id`` is not one of them).

        Never raises: with no agent at all the call gets a no-op session.

        Returns:
            ``(session, owned)``; ``owned`` is True when the caller must end it.

        .. versionadded:: 0.1
        """
        frame = get_frame()
        if frame is not None and nesting(self, frame.session, None) == JOIN:
            return frame.session, False  # an LLM call names no agent here: it joins
        if not self.enabled:
            return Session(self, options.agent_id, sampled=False), False
        agent = options.agent_id if options.agent_id is not None else self.settings.agent_id
        if agent is None:
            log_fault(
                "no-agent",
                "an LLM call outside any session has no agent (pass agent_id= to instrument() "
                "or set PROVENANT_AGENT); it was not recorded",
            )
            return Session(self, None, sampled=False), False
        try:
            session = self.new_session(agent, options)
            session._start()
        except Exception as exc:  # a fault of ours: the call goes unrecorded, never fails
            log_fault("call-session", "could not open a session for an LLM call", exc)
            return Session(self, None, sampled=False), False
        return session, True

    # -- spans ------------------------------------------------------------------------

    def start_span(
        self,
        name: str,
        kind: str = "llm",
        session: Optional[Session] = None,
        attributes: Optional[Mapping[str, Any]] = None,
    ) -> Span:
        """
        Start a span that is NOT made current (a stream outlives the call that opened it).

        Args:
            name: The span's name.
            kind: ``"llm"`` (default), ``"tool"``, ``"step"``, ``"agent"``.
            session: Its session; defaults to the current one.
            attributes: Initial attributes.

        Returns:
            The span; end it with :meth:`Span.end`.

        .. versionadded:: 0.1
        """
        parent = get_current()
        if session is None:
            session = parent.session if parent is not None else Session(self, None, sampled=False)
        observers = self._observers if session.sampled else None
        span = Span(name, kind, parent, session, observers)
        if attributes:
            span.attributes.update(attributes)
        if observers:
            notify_start(observers, span)
        return span

    # -- delivery ---------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every recorded event is delivered; True when all were."""
        processor = self._processor
        return True if processor is None else processor.flush(timeout)

    def stats(self) -> dict[str, Any]:
        """Delivery counters (zeros when nothing is delivered to Provenant), and toward an
        API the rate limit it last announced (``rate_limit``)."""
        processor = self._processor
        if processor is None:
            return {"enqueued": 0, "delivered": 0, "retried": 0, "dropped": {}, "queue_depth": 0}
        stats = processor.stats()
        rate_limit = getattr(self._exporter, "rate_limit", None)
        if rate_limit is not None:
            stats["rate_limit"] = rate_limit._asdict()
        return stats

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Flush (bounded) and stop the processor (and its exporter)."""
        processor = self._processor
        return True if processor is None else processor.shutdown(timeout)
