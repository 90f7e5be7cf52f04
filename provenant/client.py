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
import time
import urllib.parse
import uuid
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
    overload,
)

from provenant._logging import log_fault
from provenant._wire import decode_record
from provenant._wire import is_uuid as is_uuid
from provenant.backends import Backend, agent_slug, open_backend
from provenant.backends._agents import AgentDirectory
from provenant.config import Settings, resolve_settings
from provenant.errors import ClientClosedError, ConfigurationError, EvalTimeoutError
from provenant.tracing._arguments import check_arguments, check_session_arguments

if TYPE_CHECKING:
    from provenant.evals._report import EvalReport
    from provenant.evals._runner import Task
    from provenant.evals._scoring import ScorersArg
    from provenant.tracing._session import Session
    from provenant.tracing._trace import TraceKind
    from provenant.tracing._tracer import Tracer

__all__ = ["ProvenantClient"]

F = TypeVar("F", bound=Callable[..., Any])

_TURN_ROLES = ("USER", "ASSISTANT", "SYSTEM", "TOOL")
_SESSION_END_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
_TERMINAL_RUN_STATUSES = ("COMPLETED", "FAILED")
_MAX_POLL_INTERVAL_S = 10.0

# Result keys a caller may pass to submit_results, by the wire name they map to.
_RESULT_KEYS = {
    "caseId": "caseId",
    "case_id": "caseId",
    "actualOutput": "actualOutput",
    "actual_output": "actualOutput",
    "output": "actualOutput",
    "score": "score",
    "passed": "passed",
    "latencyMs": "latencyMs",
    "latency_ms": "latencyMs",
    "tokenCount": "tokenCount",
    "token_count": "tokenCount",
    "error": "error",
    "metadata": "metadata",
}


def _listed(value: Any) -> Any:
    """A list of an iterable's items (a generator is read once, here), or ``value`` as it
    is when it is ``None``, text or a mapping (for the argument check to refuse)."""
    if value is None or isinstance(value, (str, bytes, Mapping)):
        return value
    try:
        return list(value)
    except TypeError:  # not iterable: the argument check names it
        return value


def _drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _segment(value: str) -> str:
    """Quote an id for use as one path segment (an id never changes the route)."""
    return urllib.parse.quote(str(value), safe="")


def _normalise_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """Map a caller's result dict to the wire's field names, losing nothing."""
    wire: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in result.items():
        target = _RESULT_KEYS.get(key)
        if target is None:
            extra[key] = value
            continue
        if target in wire and wire[target] != value:
            raise ValueError(
                f"result gives {target} twice with different values (as {key!r} too); "
                "pass only one of 'output' and 'actualOutput'."
            )
        wire[target] = value
    if "caseId" not in wire:
        raise ValueError(f"every result needs a caseId; got keys {sorted(result)}.")
    if extra:
        given = wire.get("metadata")
        if isinstance(given, Mapping):
            metadata = dict(given)
        else:
            metadata = {} if given is None else {"metadata": given}
        for key, value in extra.items():
            if key in metadata and metadata[key] != value:
                raise ValueError(
                    f"result key {key!r} is not a wire field and clashes with metadata[{key!r}]."
                )
            metadata[key] = value
        wire["metadata"] = metadata
    return wire


class ProvenantClient:
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

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Optional[Mapping[str, Optional[str]]] = None,
        write: bool = False,
    ) -> Any:
        clean_query = {k: v for k, v in (query or {}).items() if v is not None}
        answer = self._backend.request(
            method,
            path,
            body=body,
            query=clean_query or None,
            idempotency_key=str(uuid.uuid4()) if write else None,
        )
        return decode_record(answer)

    # -- agents -----------------------------------------------------------------------

    def create_agent(
        self,
        name: str,
        slug: Optional[str] = None,
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        model_family: Optional[str] = None,
    ) -> dict[str, Any]:
        """
        Create an agent.

        Args:
            name: The display name.
            slug: ``^[a-z0-9-]+$``; derived from the name when omitted.
            description: Free text.
            tags: A list of strings.
            model_family: e.g. ``"claude"``.

        Returns:
            The agent as the server answers it.

        .. versionadded:: 0.1
        """

        tags = _listed(tags)
        check_arguments(
            "create_agent()",
            {
                "name": name,
                "slug": slug,
                "description": description,
                "tags": tags,
                "model_family": model_family,
            },
        )
        body = _drop_none(
            {
                "name": name,
                "slug": slug if slug is not None else agent_slug(name),
                "description": description,
                "tags": tags,
                "modelFamily": model_family,
            }
        )
        agent: dict[str, Any] = self._request("POST", "/api/agents", body=body, write=True)
        return agent

    def get_or_create_agent(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        model_family: Optional[str] = None,
    ) -> str:
        """
        Return the id of the agent with this name (by slug), creating it if needed.

        The answer is cached per client: a name is resolved once.

        Args:
            name: The agent's name.
            description: Used only when the agent is created.
            tags: Used only when the agent is created.
            model_family: Used only when the agent is created.

        Returns:
            The agent's id.

        .. versionadded:: 0.1
        """
        tags = _listed(tags)
        check_arguments(
            "get_or_create_agent()",
            {"name": name, "description": description, "tags": tags, "model_family": model_family},
        )
        body = _drop_none(
            {
                "name": name,
                "description": description,
                "tags": tags,
                "modelFamily": model_family,
            }
        )

        def lookup(_: str) -> str:
            agent = self._request("POST", "/api/agents/get-or-create", body=body, write=True)
            return str(agent["id"])

        return self._agents.resolve(name, lookup, uuid_is_id=False)

    def resolve_agent_id(self, agent: str) -> str:
        """
        Turn an agent reference (a UUID or a name) into an agent id.

        Args:
            agent: A UUID is returned as it is; a name goes through
                :meth:`get_or_create_agent` (cached).

        .. versionadded:: 0.1
        """
        if is_uuid(agent):
            return agent
        return self.get_or_create_agent(agent)

    def list_agents(self) -> list[dict[str, Any]]:
        """
        List the agents of your organisation, most recently updated first.

        .. versionadded:: 0.1
        """
        agents: list[dict[str, Any]] = self._request("GET", "/api/agents")
        return agents

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        """
        Fetch one agent, with its ``versions`` and ``_count``.

        Raises:
            NotFoundError: No such agent in your organisation.

        .. versionadded:: 0.1
        """
        agent: dict[str, Any] = self._request("GET", f"/api/agents/{_segment(agent_id)}")
        return agent

    # -- sessions and turns -----------------------------------------------------------

    def create_session(
        self,
        agent_id: str,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        external_id: Optional[str] = None,
        user_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        """
        Create a session of an agent.

        Args:
            agent_id: The agent's id (a name is resolved with get-or-create).
            agent_version_id: Optional version id.
            environment_id: Optional environment id.
            external_id: Your own id for the session.
            user_id: The end user's id.
            metadata: A JSON object.
            tags: A list of strings.

        Returns:
            The session, with ``agent``.

        Raises:
            NotFoundError: The agent is not in your organisation.
            TypeError: An argument of the wrong type (named in the message), such as one
                string given as ``tags``.

        .. versionadded:: 0.1
        """
        tags = _listed(tags)
        check_arguments(
            "create_session()",
            {
                "agent_id": agent_id,
                "agent_version_id": agent_version_id,
                "environment_id": environment_id,
                "external_id": external_id,
                "user_id": user_id,
                "metadata": metadata,
                "tags": tags,
            },
        )
        body = _drop_none(
            {
                "agentId": self.resolve_agent_id(agent_id),
                "agentVersionId": agent_version_id,
                "environmentId": environment_id,
                "externalId": external_id,
                "userId": user_id,
                "metadata": dict(metadata) if metadata is not None else None,
                "tags": tags,
            }
        )
        session: dict[str, Any] = self._request("POST", "/api/sessions", body=body, write=True)
        return session

    def get_session(self, session_id: str) -> dict[str, Any]:
        """
        Fetch a session with its ``turns`` in order.

        .. versionadded:: 0.1
        """
        session: dict[str, Any] = self._request("GET", f"/api/sessions/{_segment(session_id)}")
        return session

    def list_sessions(
        self,
        agent_id: Optional[str] = None,
        *,
        environment_id: Optional[str] = None,
        status: Optional[str] = None,
        q: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        """
        List up to 100 sessions, newest first.

        Args:
            agent_id: Only this agent's sessions.
            environment_id: Only this environment's sessions.
            status: ``ACTIVE``, ``COMPLETED`` or ``FAILED``.
            q: Only sessions with a turn whose content contains this text.

        .. versionadded:: 0.1
        """
        sessions: list[dict[str, Any]] = self._request(
            "GET",
            "/api/sessions",
            query={"agentId": agent_id, "environmentId": environment_id, "status": status, "q": q},
        )
        return sessions

    def delete_session(self, session_id: str) -> dict[str, Any]:
        """
        Delete a session and its turns.

        The request carries an ``Idempotency-Key``, so a retry after a lost answer
        gets the first answer again rather than a ``NotFoundError``.

        .. versionadded:: 0.1
        """
        answer: dict[str, Any] = self._request(
            "DELETE", f"/api/sessions/{_segment(session_id)}", write=True
        )
        return answer

    def add_turn(
        self,
        session_id: str,
        role: str,
        content: Any,
        tool_calls: Optional[Sequence[Mapping[str, Any]]] = None,
        latency_ms: Optional[int] = None,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]:
        """
        Add a turn to a session.

        Args:
            session_id: The session's id.
            role: ``USER``, ``ASSISTANT``, ``SYSTEM`` or ``TOOL`` (any case).
            content: A string, or a JSON object or array.
            tool_calls: The tool calls of an assistant turn.
            latency_ms: Latency of the turn in milliseconds.
            input_tokens: Prompt tokens.
            output_tokens: Completion tokens.
            metadata: A JSON object.

        Returns:
            The created turn.

        Raises:
            ValueError: The role is not one of the four.
            TypeError: An argument of the wrong type (named in the message), such as one
                string given as ``tool_calls``.

        .. versionadded:: 0.1
        """
        tool_calls = _listed(tool_calls)
        check_arguments(
            "add_turn()",
            {
                "session_id": session_id,
                "role": role,
                "tool_calls": tool_calls,
                "metadata": metadata,
            },
        )
        wire_role = role.upper()
        if wire_role not in _TURN_ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(_TURN_ROLES)}.")
        body = _drop_none(
            {
                "role": wire_role,
                "content": content,
                "toolCalls": tool_calls,
                "latencyMs": latency_ms,
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "metadata": dict(metadata) if metadata is not None else None,
            }
        )
        turn: dict[str, Any] = self._request(
            "POST", f"/api/sessions/{_segment(session_id)}/turns", body=body, write=True
        )
        return turn

    def end_session(
        self,
        session_id: str,
        status: str = "COMPLETED",
        *,
        total_tokens: Optional[int] = None,
        total_latency_ms: Optional[int] = None,
    ) -> dict[str, Any]:
        """
        End a session.

        Args:
            session_id: The session's id.
            status: ``COMPLETED`` (default), ``FAILED`` or ``CANCELLED``.
            total_tokens: Optional total, stored on the session.
            total_latency_ms: Optional total, stored on the session.

        Returns:
            The ended session.

        .. versionadded:: 0.1
        """
        check_arguments("end_session()", {"session_id": session_id, "status": status})
        wire_status = status.upper()
        if wire_status not in _SESSION_END_STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(_SESSION_END_STATUSES)}.")
        body = _drop_none(
            {"status": wire_status, "totalTokens": total_tokens, "totalLatencyMs": total_latency_ms}
        )
        session: dict[str, Any] = self._request(
            "POST", f"/api/sessions/{_segment(session_id)}/end", body=body, write=True
        )
        return session

    # -- eval suites, runs and results ------------------------------------------------

    def list_eval_suites(self) -> list[dict[str, Any]]:
        """
        List the eval suites of your organisation.

        .. versionadded:: 0.1
        """
        suites: list[dict[str, Any]] = self._request("GET", "/api/evals/suites")
        return suites

    def get_eval_suite(self, suite_id: str) -> dict[str, Any]:
        """
        Fetch a suite with its ``cases``.

        .. versionadded:: 0.1
        """
        suite: dict[str, Any] = self._request("GET", f"/api/evals/suites/{_segment(suite_id)}")
        return suite

    def create_eval_suite(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        """
        Create an eval suite.

        .. versionadded:: 0.1
        """
        tags = _listed(tags)
        check_arguments(
            "create_eval_suite()", {"name": name, "description": description, "tags": tags}
        )
        body = _drop_none({"name": name, "description": description, "tags": tags})
        suite: dict[str, Any] = self._request("POST", "/api/evals/suites", body=body, write=True)
        return suite

    def add_eval_case(
        self,
        suite_id: str,
        name: str,
        input: Any,
        expected_output: Any = None,
        *,
        scoring_fn: Optional[str] = None,
        weight: Optional[float] = None,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        """
        Add a case to a suite.

        Args:
            suite_id: The suite's id.
            name: The case's name.
            input: A JSON object given to the task.
            expected_output: A JSON object the output is scored against.
            scoring_fn: ``exact_match`` (server default), ``contains``, ``json_match``, ``regex``.
            weight: The case's weight in the score (1.0).
            description: Free text.
            tags: A list of strings.

        .. versionadded:: 0.1
        """
        tags = _listed(tags)
        check_arguments(
            "add_eval_case()",
            {
                "suite_id": suite_id,
                "name": name,
                "scoring_fn": scoring_fn,
                "description": description,
                "tags": tags,
            },
        )
        body = _drop_none(
            {
                "name": name,
                "input": input,
                "expectedOutput": expected_output,
                "scoringFn": scoring_fn,
                "weight": weight,
                "description": description,
                "tags": tags,
            }
        )
        case: dict[str, Any] = self._request(
            "POST", f"/api/evals/suites/{_segment(suite_id)}/cases", body=body, write=True
        )
        return case

    def create_eval_run(
        self,
        suite_id: str,
        agent_id: str,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]:
        """
        Start an eval run of a suite for an agent (status ``QUEUED``).

        Args:
            suite_id: The suite's id.
            agent_id: The agent's id (a name is resolved with get-or-create).
            agent_version_id: Optional version id.
            environment_id: Optional environment id.
            metadata: A JSON object.

        .. versionadded:: 0.1
        """
        check_arguments(
            "create_eval_run()",
            {
                "suite_id": suite_id,
                "agent_id": agent_id,
                "agent_version_id": agent_version_id,
                "environment_id": environment_id,
                "metadata": metadata,
            },
        )
        body = _drop_none(
            {
                "suiteId": suite_id,
                "agentId": self.resolve_agent_id(agent_id),
                "agentVersionId": agent_version_id,
                "environmentId": environment_id,
                "metadata": dict(metadata) if metadata is not None else None,
            }
        )
        run: dict[str, Any] = self._request("POST", "/api/evals/runs", body=body, write=True)
        return run

    def get_eval_run(self, run_id: str) -> dict[str, Any]:
        """
        Fetch a run with its ``results`` (each with its ``case``).

        .. versionadded:: 0.1
        """
        run: dict[str, Any] = self._request("GET", f"/api/evals/runs/{_segment(run_id)}")
        return run

    def list_eval_runs(
        self, agent_id: Optional[str] = None, suite_id: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """
        List eval runs, optionally of one agent or one suite.

        .. versionadded:: 0.1
        """
        runs: list[dict[str, Any]] = self._request(
            "GET", "/api/evals/runs", query={"agentId": agent_id, "suiteId": suite_id}
        )
        return runs

    def submit_results(self, run_id: str, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """
        Submit the results of a run; the run becomes ``COMPLETED`` with its pass rate.

        Args:
            run_id: The run's id.
            results: Dicts with ``caseId`` and any of ``actualOutput`` (or its alias
                ``output``), ``passed``, ``score``, ``latencyMs``, ``tokenCount``,
                ``error``, ``metadata`` (snake_case spellings accepted). Any other key is
                kept in the result's ``metadata`` rather than dropped.

        Returns:
            ``{"created": N}``.

        Raises:
            ValueError: A result has no ``caseId``, or contradicts itself.

        .. versionadded:: 0.1
        """
        wire = [_normalise_result(result) for result in results]
        answer: dict[str, Any] = self._request(
            "POST",
            f"/api/evals/runs/{_segment(run_id)}/results",
            body={"results": wire},
            write=True,
        )
        return answer

    def wait_for_completion(
        self,
        run_id: str,
        poll_interval_seconds: float = 2.0,
        timeout_seconds: float = 300.0,
    ) -> dict[str, Any]:
        """
        Poll a run until it is ``COMPLETED`` or ``FAILED``, waiting longer between polls.

        Args:
            run_id: The run's id.
            poll_interval_seconds: The first wait between polls; each next wait is half
                again as long, up to 10 s (or the first wait, if longer); a wait never
                shrinks.
            timeout_seconds: Give up after this long.

        Returns:
            The finished run.

        Raises:
            EvalTimeoutError: (a :class:`TimeoutError`) the run did not finish in time;
                the message names the run and its last status.

        .. versionadded:: 0.1
        """
        deadline = time.monotonic() + timeout_seconds
        interval = max(0.01, poll_interval_seconds)
        while True:
            run = self.get_eval_run(run_id)
            status = run.get("status")
            if status in _TERMINAL_RUN_STATUSES:
                return run
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EvalTimeoutError(
                    f"eval run {run_id} did not complete within {timeout_seconds:g} s; "
                    f"its last status was {status}.",
                    run_id=run_id,
                    last_status=status if isinstance(status, str) else None,
                )
            time.sleep(min(interval, remaining))
            interval = max(interval, min(interval * 1.5, _MAX_POLL_INTERVAL_S))

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
        reason), ``queue_depth``.

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
    return Tracer(settings, agents=agents, exporter=exporter, observers=observers)
