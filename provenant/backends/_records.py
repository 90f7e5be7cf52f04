"""
What recording hands to shipping: plain records of sessions, and the exporter seam.

::

    records = [
        SessionStart("k1", agent="Support Bot", external_id="conv-1"),
        TurnRecord("k1", role="USER", content="hi"),
        SessionEnd("k1", status="COMPLETED", total_tokens=12),
    ]
    result = exporter.export(records)     # an Exporter: the store, or the REST API
    result.session_ids                    # {"k1": "<id the destination gave>"}

A record names its session by ``key``: a handle of the recording process, unique per
session; the destination's own id comes back in :attr:`ExportResult.session_ids`. The
field names are the data model's, in Python spelling; :func:`wire_body` is the one
place that spells them as the REST contract does.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from typing_extensions import Protocol

__all__ = [
    "ExportResult",
    "Exporter",
    "Record",
    "SessionEnd",
    "SessionStart",
    "TurnRecord",
    "wire_body",
]


class SessionStart:
    """
    A session began.

    ``agent`` is an agent's id or name (an exporter resolves a name); ``parent_key`` is
    the key of the session it nests under, if any (its destination id is added to the
    metadata as ``parentSessionId`` when known).
    """

    __slots__ = (
        "agent",
        "agent_version_id",
        "environment_id",
        "external_id",
        "key",
        "metadata",
        "parent_id",
        "parent_key",
        "tags",
        "user_id",
    )

    def __init__(
        self,
        key: str,
        *,
        agent: str,
        external_id: str,
        user_id: Optional[str] = None,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        tags: Optional[List[str]] = None,
        parent_key: Optional[str] = None,
        parent_id: Optional[str] = None,
    ) -> None:
        self.key = key
        self.agent = agent
        self.external_id = external_id
        self.user_id = user_id
        self.agent_version_id = agent_version_id
        self.environment_id = environment_id
        self.metadata = metadata if metadata is not None else {}
        self.tags = tags if tags is not None else []
        self.parent_key = parent_key
        self.parent_id = parent_id


class TurnRecord:
    """
    One turn of a session (content already masked, made JSON-safe and cut);
    ``session_id`` is the destination's id when the recorder knows it already (a resumed
    session), else the exporter finds it by ``key``.
    """

    __slots__ = (
        "content",
        "input_tokens",
        "key",
        "latency_ms",
        "metadata",
        "output_tokens",
        "role",
        "session_id",
        "tool_calls",
    )

    def __init__(
        self,
        key: str,
        *,
        role: str,
        content: Any,
        tool_calls: Optional[List[Any]] = None,
        latency_ms: Optional[int] = None,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
        metadata: Optional[Dict[str, Any]] = None,
        session_id: Optional[str] = None,
    ) -> None:
        self.key = key
        self.session_id = session_id
        self.role = role
        self.content = content
        self.tool_calls = tool_calls
        self.latency_ms = latency_ms
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.metadata = metadata


class SessionEnd:
    """A session ended, with its status and the totals it counted (``None``: let the
    destination sum its turns); ``session_id`` as for :class:`TurnRecord`."""

    __slots__ = ("key", "session_id", "status", "total_latency_ms", "total_tokens")

    def __init__(
        self,
        key: str,
        *,
        status: str,
        total_tokens: Optional[int] = None,
        total_latency_ms: Optional[int] = None,
        session_id: Optional[str] = None,
    ) -> None:
        self.key = key
        self.session_id = session_id
        self.status = status
        self.total_tokens = total_tokens
        self.total_latency_ms = total_latency_ms


Record = Union[SessionStart, TurnRecord, SessionEnd]


class ExportResult:
    """
    What became of a batch: for each record, ``None`` when it was delivered or the reason
    it is dropped (``outcomes[i]``, a stats key); the destination's ids of the sessions
    started, by key; and how many retries it took.
    """

    __slots__ = ("outcomes", "retried", "session_ids")

    def __init__(
        self, outcomes: List[Optional[str]], session_ids: Dict[str, str], retried: int = 0
    ) -> None:
        self.outcomes = outcomes
        self.session_ids = session_ids
        self.retried = retried


class Exporter(Protocol):
    """
    Deliver batches of records to one destination, in the order given.

    ``network`` tells whether :meth:`export` waits on the network (the batch processor
    then lets go of its fork gate meanwhile, and spreads a backlog over its workers);
    ``batch_interval_s`` how long a busy worker lets events gather into one batch.
    Several workers may call :meth:`export` at once, each with its own sessions' records.
    A network exporter may also have a ``progress`` attribute: the processor sets it to
    a callable that the exporter calls after each record it settles, so that a worker is
    taken for stalled only when one record holds it (see ``BatchProcessor.next_shard``).
    """

    network: bool
    batch_interval_s: float

    def export(self, records: Sequence[Record]) -> ExportResult:
        """Deliver ``records`` (retrying transient faults); never raises."""
        ...

    def read(self, path: str) -> Any:
        """``GET`` one route of the contract, once (a resumed session's turns)."""
        ...

    def interrupt(self) -> None:
        """Stop waiting between attempts: what is being retried is dropped (shutdown)."""
        ...

    def shutdown(self) -> None:
        """Release connections and files. Idempotent."""
        ...


def wire_body(record: Record, agent_id: Optional[str] = None) -> Dict[str, Any]:
    """
    The REST contract's body for ``record``: ``POST /api/sessions`` (``agent_id``
    resolved by the caller), ``/api/sessions/:id/turns`` or ``/api/sessions/:id/end``.
    """
    if isinstance(record, TurnRecord):
        body: Dict[str, Any] = {"role": record.role, "content": record.content}
        if record.tool_calls is not None:
            body["toolCalls"] = record.tool_calls
        if record.latency_ms is not None:
            body["latencyMs"] = record.latency_ms
        if record.input_tokens is not None:
            body["inputTokens"] = record.input_tokens
        if record.output_tokens is not None:
            body["outputTokens"] = record.output_tokens
        if record.metadata is not None:
            body["metadata"] = record.metadata
        return body
    if isinstance(record, SessionEnd):
        body = {"status": record.status}
        if record.total_tokens is not None:
            body["totalTokens"] = record.total_tokens
        if record.total_latency_ms is not None:
            body["totalLatencyMs"] = record.total_latency_ms
        return body
    body = {"agentId": agent_id or record.agent, "externalId": record.external_id}
    body["tags"] = record.tags
    if record.user_id is not None:
        body["userId"] = record.user_id
    if record.agent_version_id is not None:
        body["agentVersionId"] = record.agent_version_id
    if record.environment_id is not None:
        body["environmentId"] = record.environment_id
    metadata = dict(record.metadata)
    if record.parent_id is not None:
        metadata.setdefault("parentSessionId", record.parent_id)
    body["metadata"] = metadata
    return body
