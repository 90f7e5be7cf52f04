"""
:class:`ProvenantClient`: the REST methods of the platform, and the tracing entry points.

Explicit REST calls block and raise :mod:`provenant.errors` on failure::

    client = ProvenantClient()                       # embedded store, no account needed
    agent_id = client.get_or_create_agent("Support Bot")
    session = client.create_session(agent_id, user_id="u1")
    client.add_turn(session["id"], "USER", "Hello")
    client.end_session(session["id"])

Tracing (``client.session()``, ``client.trace``) never blocks and never raises into
the host application: it enqueues events for a background exporter.

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
    overload,
)

from provenant._logging import log_fault
from provenant._rest import AgentsApi, EvalsApi, SessionsApi
from provenant._wire import is_uuid as is_uuid
from provenant.backends import Backend, open_backend
from provenant.backends._agents import AgentDirectory
from provenant.config import Settings, resolve_settings
from provenant.errors import ClientClosedError, ConfigurationError
from provenant.tracing._arguments import check_session_arguments

if TYPE_CHECKING:
    from provenant.evals._report import EvalReport
    from provenant.evals._runner import Task
    from provenant.evals._scoring import ScorersArg
    from provenant.tracing._session import Session
    from provenant.tracing._trace import TraceKind
    from provenant.tracing._tracer import Tracer

__all__ = ["ProvenantClient"]

F = TypeVar("F", bound=Callable[..., Any])


class ProvenantClient(EvalsApi, SessionsApi, AgentsApi):
    """
    A client of the Provenant platform: REST calls, and the tracing of sessions.

    Args:
        base_url: ``https://...`` for a REST API, ``"local"`` or ``"sqlite:///path.db"``
            for the embedded store. Defaults to ``PROVENANT_BASE_URL``; with neither a
            base URL nor an API key, the embedded store at ``.provenant/provenant.db``.
        api_key: The API key (``pk_live_...``). Defaults to ``PROVENANT_API_KEY``.
        timeout: Seconds to wait on connect and on read (``PROVENANT_TIMEOUT``, 30).
        agent_id: Default agent (UUID or name) of sessions that name none
            (``PROVENANT_AGENT``).
        enabled: ``False`` makes tracing a no-op (``PROVENANT_ENABLED``); REST calls
            still work.
        max_queue_size: Events held for delivery before ``on_queue_full`` applies (10,000).
        on_queue_full: ``"drop_newest"`` (default), ``"drop_oldest"`` or ``"block"``.
        queue_block_timeout: With ``"block"``, the longest wait in seconds (1).
        flush_timeout: Bound in seconds of the exit-time flush (``PROVENANT_FLUSH_TIMEOUT``, 5).
        exporter_workers: Background delivery threads (4); one session is always
            delivered in order by one of them.
        max_delivery_attempts: Attempts per event on transient failures (8).
        max_content_bytes: Content above this size is truncated (256 KB).
        capture_content: ``False`` records roles, tokens and latency only.
        sample_rate: Fraction of sessions recorded, decided once per session (1.0).
        mask: Called on every content before it leaves the process; returns the new content.
        otel: ``True`` (the global ``TracerProvider``) or a ``TracerProvider``: also emit
            OpenTelemetry GenAI spans.
        destination: ``"otel-only"`` sends spans only, no Provenant records.
        prices: Your own model prices, USD per million tokens by model name
            (``{"my-model": {"input_mtok": 3, "output_mtok": 15}}``); they win over the
            ``cost`` extra's table and over ``PROVENANT_PRICES_FILE``. See the Cost page.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: Optional[float] = None,
        *,
        agent_id: Optional[str] = None,
        enabled: Optional[bool] = None,
        max_queue_size: Optional[int] = None,
        on_queue_full: Optional[str] = None,
        queue_block_timeout: Optional[float] = None,
        flush_timeout: Optional[float] = None,
        exporter_workers: Optional[int] = None,
        max_delivery_attempts: Optional[int] = None,
        max_content_bytes: Optional[int] = None,
        capture_content: Optional[bool] = None,
        sample_rate: Optional[float] = None,
        mask: Optional[Callable[[Any], Any]] = None,
        otel: Any = None,
        destination: Optional[str] = None,
        prices: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self._settings = resolve_settings(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            agent_id=agent_id,
            enabled=enabled,
            max_queue_size=max_queue_size,
            on_queue_full=on_queue_full,
            queue_block_timeout=queue_block_timeout,
            flush_timeout=flush_timeout,
            exporter_workers=exporter_workers,
            max_delivery_attempts=max_delivery_attempts,
            max_content_bytes=max_content_bytes,
            capture_content=capture_content,
            sample_rate=sample_rate,
            mask=mask,
            otel=otel,
            destination=destination,
            prices=prices,
        )
        self._backend_lock = threading.Lock()
        self._backend_instance: Optional[Backend] = None
        self._agents = AgentDirectory()
        self._closed = False
        self._tracer_instance: Optional[Tracer] = None
        self._tracer_lock = threading.Lock()
        if self._settings.enabled and self._settings.otel:
            # Built now so that a missing `otel` extra or a bad otel= value raises here,
            # not at the first session. Building it starts no thread.
            self._tracer  # noqa: B018

    # -- plumbing ---------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The resolved settings of this client (the API key is hidden from its repr)."""
        return self._settings

    def __repr__(self) -> str:
        return f"ProvenantClient(destination={self._settings.destination.describe()!r})"

    @property
    def _backend(self) -> Backend:
        if self._closed:
            raise ClientClosedError("this ProvenantClient was shut down; build a new one.")
        backend = self._backend_instance
        if backend is None:
            with self._backend_lock:
                backend = self._backend_instance
                if backend is None:
                    backend = open_backend(self._settings)
                    self._backend_instance = backend
        return backend

    @property
    def _tracer(self) -> Tracer:
        tracer = self._tracer_instance
        if tracer is None:
            with self._tracer_lock:
                tracer = self._tracer_instance
                if tracer is None:
                    tracer = self._tracer_instance = _build_tracer(self._settings, self._agents)
        return tracer

    # -- agents -----------------------------------------------------------------------
    def evaluate(
        self,
        suite_id: str,
        task: Task,
        *,
        agent_id: Optional[str] = None,
        scorers: Optional[ScorersArg] = None,
        max_concurrency: int = 4,
        metadata: Optional[Mapping[str, Any]] = None,
        wait: bool = True,
    ) -> EvalReport:
        """
        Run every case of an eval suite through ``task`` with this client.

        See :func:`provenant.evaluate`, which this calls with ``client=self``.

        .. versionadded:: 0.1
        """
        from provenant.evals._runner import run_suite

        return run_suite(
            self,
            suite_id,
            task,
            agent_id=agent_id,
            scorers=scorers,
            max_concurrency=max_concurrency,
            metadata=metadata,
            wait=wait,
        )

    # -- tracing ----------------------------------------------------------------------

    def session(
        self,
        agent_id: Optional[str] = None,
        *,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        external_id: Optional[str] = None,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> Session:
        """
        Open a traced session for a ``with`` or ``async with`` block.

        Every instrumented LLM call and traced function inside the block is recorded in
        this one session. Nested inside a session of the same agent, it joins that
        session; inside another agent's session, it opens a child session.

        Args:
            agent_id: A UUID or a name; defaults to the client's ``agent_id``.
            session_id: Resume this existing server session (no create; not ended on exit).
            user_id: The end user's id.
            external_id: Your own id (a UUID is generated when omitted).
            agent_version_id: Optional version id.
            environment_id: Optional environment id.
            metadata: A JSON object stored on the session.
            tags: A list of strings.

        Returns:
            A :class:`~provenant.tracing.Session` handle (use it with ``with``).

        Raises:
            ConfigurationError: No agent given and no default agent configured.
            TypeError: An argument of the wrong type (named in the message).

        .. versionadded:: 0.1
        """
        options = check_session_arguments(
            "session()",
            agent_id,
            session_id=session_id,
            user_id=user_id,
            external_id=external_id,
            agent_version_id=agent_version_id,
            environment_id=environment_id,
            metadata=metadata,
            tags=tags,
        )
        return self._tracer.session(options, start=False)

    def start_session(
        self,
        agent_id: Optional[str] = None,
        *,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        external_id: Optional[str] = None,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> Session:
        """
        Start a session whose lifetime does not fit one block; end it with ``handle.end()``.

        The handle is not made current: ``with handle:`` makes it current for a block
        without ending it. Arguments are those of :meth:`session`.

        .. versionadded:: 0.1
        """
        options = check_session_arguments(
            "start_session()",
            agent_id,
            session_id=session_id,
            user_id=user_id,
            external_id=external_id,
            agent_version_id=agent_version_id,
            environment_id=environment_id,
            metadata=metadata,
            tags=tags,
        )
        return self._tracer.session(options, start=True)

    @overload
    def trace(self, func: F) -> F: ...

    @overload
    def trace(
        self,
        func: None = None,
        *,
        name: Optional[str] = None,
        kind: TraceKind = "agent",
        agent_id: Optional[str] = None,
        capture_input: bool = True,
        capture_output: bool = True,
    ) -> Callable[[F], F]: ...

    def trace(
        self,
        func: Optional[F] = None,
        *,
        name: Optional[str] = None,
        kind: TraceKind = "agent",
        agent_id: Optional[str] = None,
        capture_input: bool = True,
        capture_output: bool = True,
    ) -> Union[F, Callable[[F], F]]:
        """
        Trace a function: it opens a session when none is active and joins it otherwise.

        Usable bare (``@client.trace``) or with options. See :func:`provenant.trace`.

        .. versionadded:: 0.1
        """
        from provenant.tracing._trace import make_trace_decorator

        decorator = make_trace_decorator(
            lambda: self,
            name=name,
            kind=kind,
            agent_id=agent_id,
            capture_input=capture_input,
            capture_output=capture_output,
        )
        if func is not None:
            return decorator(func)
        return decorator

    def flush(self, timeout: Optional[float] = None) -> bool:
        """
        Wait until every recorded event is delivered.

        Args:
            timeout: Seconds to wait at most (``None``: the client's flush timeout).

        Returns:
            True when the queue is empty and nothing is in flight.

        .. versionadded:: 0.1
        """
        tracer = self._tracer_instance
        if tracer is None:
            return True
        return tracer.flush(timeout)

    def stats(self) -> dict[str, Any]:
        """
        Delivery counters: ``enqueued``, ``delivered``, ``retried``, ``dropped`` (by
        reason), ``queue_depth``; toward a REST API also ``rate_limit``: what the API last
        announced (``limit``, ``remaining``, ``reset_s``; ``None`` until it sent
        ``RateLimit-*`` headers), the 429s received (``throttled``), the seconds requests
        still wait because of one (``hold_s``) and when the headers were seen
        (``seen_at``, ``time.time()``).

        .. versionadded:: 0.1
        """
        return self._tracer.stats()

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """
        Flush (bounded by ``timeout``), stop the background workers and close connections.

        Returns:
            True when everything was delivered before the workers stopped.

        .. versionadded:: 0.1
        """
        delivered = True
        tracer = self._tracer_instance
        if tracer is not None:
            delivered = tracer.shutdown(timeout)
        with self._backend_lock:
            backend, self._backend_instance = self._backend_instance, None
            self._closed = True
        if backend is not None:
            backend.close()
        return delivered

    close = shutdown

    def __enter__(self) -> ProvenantClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def _build_tracer(settings: Settings, agents: AgentDirectory) -> Tracer:
    """
    Assemble a client's tracer from its parts: the OpenTelemetry observer first (a
    missing extra raises before anything else is built), then the exporter of the
    settings' destination; recording itself imports neither.
    """
    from provenant.backends import open_exporter
    from provenant.tracing._ids import new_key
    from provenant.tracing._tracer import Tracer

    observers = []
    if settings.enabled and settings.otel:
        try:
            from provenant.otel import make_observer

            observers.append(make_observer(settings.otel, settings))
        except ConfigurationError:
            raise  # the otel extra is missing, or otel= is not understood: say so
        except Exception as exc:
            log_fault("otel-observer", "could not set up the OpenTelemetry export", exc)
    exporter = None
    if settings.enabled and settings.deliver_to_provenant:
        exporter = open_exporter(settings, agents, new_key)
    tracer = Tracer(settings, agents=agents, exporter=exporter, observers=observers)
    if exporter is not None and settings.flush_on_sigterm:
        from provenant._sigterm import watch

        watch(tracer._processor)  # events reach local disk before SIGTERM ends us
    return tracer
