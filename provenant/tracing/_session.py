"""
:class:`Session`: the handle of one traced session, a sync and async context manager.

::

    with client.session("Support Bot", user_id="u1") as session:
        session.add_turn("USER", "Hello")       # enqueued, never blocks or raises
        session.external_id                     # known at once
    session.id                                  # the server's id (a bounded wait)

Recording never opens a socket here: a session builds immutable events (create, turns,
end) and hands them to the client's batch processor.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from provenant._logging import log_fault
from provenant._wire import clamp_int
from provenant.backends._records import SessionEnd, SessionStart, TurnRecord
from provenant.tracing._arguments import NO_OPTIONS, SessionOptions
from provenant.tracing._context import (
    frame_path,
    get_current,
    get_frame,
    pop_block,
    push_block,
    span_of,
)
from provenant.tracing._delivery import Delivery
from provenant.tracing._ids import new_id
from provenant.tracing._nesting import CHILD, JOIN, nesting
from provenant.tracing._payload import safe_text, to_jsonable
from provenant.tracing._span import Span, notify_enter, notify_exit, notify_start
from provenant.tracing._transcript import result_forms
from provenant.tracing._turns import ROLES, turn_record, wire_count, wire_tool_calls

if TYPE_CHECKING:
    from types import TracebackType

    from provenant.tracing._processor import BatchProcessor
    from provenant.tracing._transcript import Transcript
    from provenant.tracing._types import TracerRef

__all__ = ["Session", "exit_status"]

_ID_WAIT_S = 5.0
_END_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
_SPAN_STATUS = {"COMPLETED": "ok", "FAILED": "error", "CANCELLED": "cancelled"}
_transcript_lock = threading.Lock()
_session_keys = itertools.count(1)


def _fresh_lock_in_child() -> None:
    # A thread of the parent may have held the lock at the fork: the child's is new.
    global _transcript_lock
    _transcript_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


def exit_status(error: Optional[BaseException]) -> Optional[str]:
    """
    The status a session or span ends with when ``error`` ended its block or call.

    Only an :class:`Exception` is a failure. ``sys.exit(0)`` or ``sys.exit()`` is a
    normal end (``None``: the status set before, ``COMPLETED`` by default); another exit
    code fails; ``KeyboardInterrupt``, a cancelled task, a closed generator and any other
    :class:`BaseException` cancel.
    """
    if error is None:
        return None
    if isinstance(error, Exception):
        return "FAILED"
    if isinstance(error, SystemExit):
        return None if error.code in (0, None) else "FAILED"
    return "CANCELLED"


class Session:
    """
    One traced session: a handle usable with ``with`` and ``async with``.

    Built by :meth:`provenant.ProvenantClient.session` (ended when its block exits) or
    :meth:`~provenant.ProvenantClient.start_session` (ended by :meth:`end`). A session
    that is disabled or not sampled is a no-op handle with the same methods.

    Attributes:
        agent: The agent as given (a UUID or a name).
        parent: The session this one is a child of (another agent's), or ``None``.
        metadata: The metadata sent on create.
        sampled: Whether this session is recorded.
        root_span: The session's root span (``kind == "session"``), once started.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "__weakref__",
        "_cost",
        "_ended",
        "_external_id",
        "_identified",
        "_input_tokens",
        "_latency_ms",
        "_lock",
        "_message_copies",
        "_observers",
        "_output_tokens",
        "_processor",
        "_started",
        "_status",
        "_tracer",
        "_transcript",
        "_turns",
        "agent",
        "agent_version_id",
        "delivery",
        "environment_id",
        "key",
        "metadata",
        "parent",
        "root_span",
        "sampled",
        "shard",
        "tags",
        "user_id",
    )
    _cost: tuple[Optional[float], bool]  # set by _add_cost only: see cost

    def __init__(
        self,
        tracer: TracerRef,
        agent: Optional[str],
        options: SessionOptions = NO_OPTIONS,
        *,
        sampled: bool = True,
    ) -> None:
        # ``options`` as checked where the caller gave them; ``agent`` may differ from
        # ``options.agent_id`` (the client's default agent, filled in by the tracer).
        session_id = options.session_id
        external_id = options.external_id
        metadata = options.metadata
        tags = options.tags
        self._tracer = tracer
        self._processor: Optional[BatchProcessor] = tracer._processor
        self._observers = tracer._observers
        self.agent = agent
        self._external_id = external_id
        self._identified = external_id is not None or session_id is not None
        self.user_id = options.user_id
        self.agent_version_id = options.agent_version_id
        self.environment_id = options.environment_id
        self.metadata: dict[str, Any] = dict(metadata) if metadata else {}
        self.tags: list[str] = list(tags) if tags else []
        self.parent: Optional[Session] = None
        self.sampled = sampled and tracer.enabled
        # Written by the batch processor only: the destination's id, the create's outcome.
        self.delivery = Delivery()
        if session_id is not None:
            self.delivery.server_id = session_id
        self._started = False
        self._ended = False
        self._status: Optional[str] = None
        self._lock = threading.Lock()
        self._input_tokens = 0
        self._output_tokens = 0
        self._latency_ms = 0
        self._turns = 0
        self._transcript: Optional[Transcript] = None
        # The integrations' copies of this session's last request's messages.
        self._message_copies: Any = None
        self.root_span: Optional[Span] = None
        self.shard = 0
        # The handle of this session in its records (set when it starts, with a processor).
        self.key = ""

    def __repr__(self) -> str:
        return f"Session(agent={self.agent!r}, external_id={self.external_id!r})"

    # -- identity ---------------------------------------------------------------------

    @property
    def external_id(self) -> str:
        """
        The client-side id of the session, known at once (sent as ``externalId``).

        .. versionadded:: 0.1
        """
        external_id = self._external_id
        if external_id is None:
            with self._lock:  # the caller and the worker may ask at once: one id
                external_id = self._external_id
                if external_id is None:
                    external_id = self._external_id = new_id()
        return external_id

    @property
    def id(self) -> Optional[str]:
        """
        The server's id of the session: waits (at most 5 s) for the background create.

        ``None`` when the create failed, the session is not recorded, or it is not started.

        .. versionadded:: 0.1
        """
        return self.wait_for_id(_ID_WAIT_S)

    def wait_for_id(self, timeout: float) -> Optional[str]:
        """The server's id, waiting at most ``timeout`` seconds for the background create."""
        return self.delivery.wait_created(timeout)

    @property
    def usage(self) -> dict[str, int]:
        """
        Totals so far: ``input_tokens``, ``output_tokens`` and ``turns``.

        The turns of LLM calls are built by the background worker: this waits (at most
        5 s) until the calls made so far are counted.

        .. versionadded:: 0.1
        """
        delivery = self.delivery
        if delivery.deferred_done < delivery.deferred:
            delivery.await_deferred(_ID_WAIT_S)
        with self._lock:
            return {
                "input_tokens": self._input_tokens,
                "output_tokens": self._output_tokens,
                "turns": self._turns,
            }

    @property
    def cost(self) -> dict[str, Any]:
        """
        What the LLM calls so far cost: ``cost_usd``, the sum of the priced ones (``None``
        when none was priced), and ``cost_partial``, true when a call's model has no
        known price. Calls are priced with the ``cost`` extra or ``prices=`` (see the
        Cost page); like :attr:`usage`, this waits (at most 5 s) for the worker.

        .. versionadded:: 0.1
        """
        delivery = self.delivery
        if delivery.deferred_done < delivery.deferred:
            delivery.await_deferred(_ID_WAIT_S)
        # Never set on the caller's thread (the hot path): unset until a call is priced.
        cost_usd, partial = getattr(self, "_cost", None) or (None, False)
        return {"cost_usd": cost_usd, "cost_partial": partial}

    def _add_cost(self, fields: Mapping[str, Any]) -> None:
        """Count one call's ``costUsd`` / ``priceUnknown`` (by the session's one worker)."""
        if not fields:
            return
        cost_usd, partial = getattr(self, "_cost", None) or (None, False)
        if "costUsd" in fields:
            cost_usd = (cost_usd or 0.0) + fields["costUsd"]
        self._cost = (cost_usd, partial or bool(fields.get("priceUnknown")))

    @property
    def transcript(self) -> Transcript:
        """
        The session's transcript fingerprint (what was recorded already), created lazily.

        .. versionadded:: 0.1
        """
        transcript = self._transcript
        if transcript is None:
            with _transcript_lock:
                transcript = self._transcript
                if transcript is None:
                    from provenant.tracing._transcript import Transcript

                    transcript = self._transcript = Transcript()
        return transcript

    @property
    def ended(self) -> bool:
        """
        Whether the session was ended.

        .. versionadded:: 0.1
        """
        return self._ended

    # -- lifecycle --------------------------------------------------------------------

    def _start(self, parent_span: Optional[Span] = None) -> None:
        """Create the root span, tell the observers, then enqueue the create event.

        The create's record is built by the worker (:meth:`start_record`): the caller only
        snapshots metadata that was given, so a session block stays cheap.
        """
        if self._started:
            return
        self._started = True
        if not self.sampled:
            self.root_span = Span("invoke_agent", "session", parent_span, self)
            return
        observers = self._observers
        root = Span(f"invoke_agent {self.agent}", "session", parent_span, self, observers)
        self.root_span = root
        if observers:
            root.attributes["agent"] = self.agent
            root.attributes["conversation_id"] = self.external_id
            notify_start(observers, root)
        processor = self._processor
        if processor is None:
            return
        self.key = str(next(_session_keys))
        if self.delivery.server_id is not None:
            return
        parent = self.parent
        self.shard = processor.next_shard() if parent is None else parent.shard
        metadata = self.metadata
        snapshot: Optional[dict[str, Any]] = None
        if metadata:
            # Cut inside (a too-big input), so that the metadata stays an object.
            safe, truncated = to_jsonable(
                metadata, self._tracer.settings.max_content_bytes, keep_shape=True
            )
            snapshot = safe if isinstance(safe, dict) else {}
            if truncated:
                snapshot["truncated"] = True
        try:
            processor.emit_create(self, snapshot)
        except Exception as exc:  # a fault of ours never reaches the host's block
            log_fault("session-start", "could not enqueue a session's create; not recorded", exc)
            self.delivery.mark_created(None)

    def start_record(self, metadata: Optional[dict[str, Any]]) -> SessionStart:
        """The record of this session's start (built by the worker, from the metadata
        snapshot taken when it started)."""
        meta = dict(metadata) if metadata else {}
        parent = self.parent
        parent_key: Optional[str] = None
        parent_id: Optional[str] = None
        if parent is not None:
            meta.setdefault("parentSessionExternalId", parent.external_id)
            parent_key = parent.key or None
            # The processor waited (bounded) for another client's parent before asking.
            parent_id = parent.delivery.server_id
        # The caller's text, as UTF-8 can carry it (a lone surrogate is escaped).
        return SessionStart(
            self.key,
            agent=safe_text(self.agent or ""),
            external_id=safe_text(self.external_id),
            user_id=None if self.user_id is None else safe_text(self.user_id),
            agent_version_id=(
                None if self.agent_version_id is None else safe_text(self.agent_version_id)
            ),
            environment_id=None if self.environment_id is None else safe_text(self.environment_id),
            metadata=meta,
            tags=[safe_text(tag) for tag in self.tags],
            parent_key=parent_key,
            parent_id=parent_id,
        )

    def end_record(self) -> SessionEnd:
        """The record of this session's end, with its totals (built by the worker)."""
        with self._lock:
            status = self._status or "COMPLETED"
            total_tokens = self._input_tokens + self._output_tokens
            latency_ms = self._latency_ms
        return SessionEnd(
            self.key,
            status=status,
            total_tokens=clamp_int(total_tokens) if total_tokens else None,
            total_latency_ms=clamp_int(latency_ms) if latency_ms else None,
            session_id=self.delivery.server_id,
        )

    def set_status(self, status: str) -> None:
        """
        Set the status the session ends with (``COMPLETED``, ``FAILED`` or ``CANCELLED``).

        .. versionadded:: 0.1
        """
        wire = status.upper()
        if wire not in _END_STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(_END_STATUSES)}.")
        self._status = wire

    def end(self, status: Optional[str] = None) -> None:
        """
        End the session (idempotent): its end event follows its turns.

        Args:
            status: ``COMPLETED`` (default), ``FAILED`` or ``CANCELLED``; defaults to the
                one given to :meth:`set_status`.

        .. versionadded:: 0.1
        """
        if status is not None:
            self.set_status(status)
        with self._lock:
            if self._ended or not self._started:
                return
            self._ended = True
            if self._status is None:
                self._status = "COMPLETED"
            final = self._status
        root = self.root_span
        if root is not None:
            root.end(status=_SPAN_STATUS[final])
        processor = self._processor
        if processor is not None and self.sampled:
            try:
                processor.emit_end(self)
            except Exception as exc:  # a fault of ours never reaches the host's block
                log_fault("session-end", "could not enqueue a session's end", exc)

    # -- context manager ------------------------------------------------------------

    def _enter(self) -> Session:
        if not self._tracer.enabled:
            return self
        if self._started:
            # A started handle (start_session, or re-entered): current, not ended on exit.
            self._push(None)
            return self
        frame = get_frame()
        outer = None if frame is None else frame.session
        how = nesting(
            self._tracer,
            outer,
            self.agent,
            identified=self._identified,
            resumed=self.delivery.server_id is not None,
        )
        if how == JOIN:
            push_block(None, None)
            return outer  # type: ignore[return-value]
        if how == CHILD and outer is not None:
            self.parent = outer
            self.sampled = outer.sampled and self._tracer.enabled  # one decision per tree
        if self.agent is None and self.delivery.server_id is None:
            self.agent = self._tracer.default_agent()
        # A resumed session (session_id=) is not ended by its block, only by end().
        resumed = self.delivery.server_id is not None
        self._start(span_of(frame))
        self._push(None if resumed else self)
        return self

    def _push(self, owner: Optional[Session]) -> None:
        """Make the root span current for a block, telling observers that it is."""
        root = self.root_span
        push_block(root, owner)
        if root is not None and root._observers:
            notify_enter(root._observers, root)

    def _exit(self, exc: Optional[BaseException]) -> None:
        if not self._tracer.enabled:
            return
        entered = get_current()
        owner = pop_block()
        observers = getattr(entered, "_observers", None)
        left = entered is not None and entered is not get_current()
        if observers and left and entered is not None and entered.kind == "session":
            notify_exit(observers, entered)
        if owner is not None:
            ended = exit_status(exc)
            if ended is not None:
                owner._status = ended
            owner.end()

    def __enter__(self) -> Session:
        return self._enter()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._exit(exc)

    async def __aenter__(self) -> Session:
        return self._enter()

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._exit(exc)

    # -- turns ------------------------------------------------------------------------

    def add_turn(
        self,
        role: str,
        content: Any,
        *,
        tool_calls: Optional[Sequence[Mapping[str, Any]]] = None,
        latency_ms: Optional[int] = None,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """
        Record a turn; it is enqueued for delivery, never blocks and never raises.

        Args:
            role: ``USER``, ``ASSISTANT``, ``SYSTEM`` or ``TOOL`` (any case).
            content: A string, or any value (made JSON-safe, masked, truncated).
            tool_calls: The tool calls of an assistant turn.
            latency_ms: Latency in milliseconds.
            input_tokens: Prompt tokens.
            output_tokens: Completion tokens.
            metadata: A JSON object; ``span`` (the current span path) is added when a
                traced function of this session is running.

        .. versionadded:: 0.1
        """
        if not self.sampled:
            return
        try:
            self._add_turn(
                role, content, tool_calls, latency_ms, input_tokens, output_tokens, metadata
            )
        except Exception as exc:
            log_fault("add-turn", "could not record a turn; it was dropped", exc)

    def _add_turn(
        self,
        role: str,
        content: Any,
        tool_calls: Optional[Sequence[Mapping[str, Any]]],
        latency_ms: Optional[int],
        input_tokens: Optional[int],
        output_tokens: Optional[int],
        metadata: Optional[Mapping[str, Any]],
    ) -> None:
        processor = self._processor
        path: Optional[list[str]] = None
        if processor is not None and self._started and (metadata is None or "span" not in metadata):
            frame = get_frame()
            if frame is not None and frame.session is self:
                path = frame_path(frame)
        body = self.build_turn(
            role,
            content,
            tool_calls=tool_calls,
            latency_ms=latency_ms,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            metadata=metadata,
            span_path=path,
        )
        if body is None or processor is None:
            return
        if not self._started:
            log_fault("turn-unstarted", "a turn was added to a session never entered or started")
            return
        if self._ended:
            # Recorded all the same (the platform takes it): nothing is lost, but it is
            # most likely a handle kept past its block.
            log_fault("turn-after-end", "a turn was added to a session that had ended")
        processor.emit_turn(self, body)

    def build_turn(
        self,
        role: str,
        content: Any,
        *,
        tool_calls: Optional[Sequence[Mapping[str, Any]]] = None,
        latency_ms: Optional[int] = None,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        span_path: Optional[list[str]] = None,
    ) -> Optional[TurnRecord]:
        """
        Count a turn in :attr:`usage` and return its record (``None``: not recorded).

        The record is built only when there is a processor to deliver it. Used by
        :meth:`add_turn` on the caller's thread and by deferred records on the worker.
        """
        wire_role = role.upper() if isinstance(role, str) else None
        if wire_role not in ROLES:
            log_fault("turn-role", f"turn role {role!r} is not one of {', '.join(ROLES)}")
            return None
        tool_calls = wire_tool_calls(tool_calls)
        latency_ms = wire_count("latency_ms", latency_ms)
        input_tokens = wire_count("input_tokens", input_tokens)
        output_tokens = wire_count("output_tokens", output_tokens)
        with self._lock:
            self._turns += 1
            self._input_tokens += input_tokens or 0
            self._output_tokens += output_tokens or 0
            self._latency_ms += latency_ms or 0
        if self._processor is None:
            return None
        return turn_record(
            self._tracer.settings,
            self.key,
            wire_role,
            content,
            tool_calls=tool_calls,
            latency_ms=latency_ms,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            metadata=metadata,
            span_path=span_path,
        )

    def _add_tool_turn(
        self, content: Any, latency_ms: int, metadata: Mapping[str, Any], result: Any, noted: bool
    ) -> None:
        """
        Record a traced tool's TOOL turn and, when ``noted``, note its result in the
        transcript in the session's event order (after the LLM calls enqueued before it,
        whose input the worker de-duplicates), so it is not recorded again when sent back.
        """
        if not self.sampled:
            return
        try:
            processor = self._processor
            if processor is None or not self._started:
                self._add_turn("TOOL", content, None, latency_ms, None, None, metadata)
                if noted:
                    self.transcript.note_tool_result(result)
                return
            frame = get_frame()
            path = frame_path(frame) if frame is not None and frame.session is self else None
            body = self.build_turn(
                "TOOL", content, latency_ms=latency_ms, metadata=metadata, span_path=path
            )
            if body is None:
                return
            forms = result_forms(result) if noted else frozenset()
            transcript = self.transcript

            def work() -> tuple[TurnRecord, ...]:
                transcript.note_result_forms(forms)
                return (body,)

            processor.emit_record(self, work)
        except Exception as exc:
            log_fault("add-turn", "could not record a turn; it was dropped", exc)

    def add_deferred(self, work: Callable[[], Sequence[TurnRecord]]) -> None:
        """
        Have ``work`` run in this session's event order, off the caller's thread.

        ``work()`` returns the records of the turns to deliver (built with
        :meth:`build_turn`); it runs on the processor's worker when its event is dequeued,
        after every event enqueued before it for this session and before every later one.
        With no processor it runs at once (its turns counted, not delivered). A fault in it
        is logged and counted, never raised. Never blocks (unless ``on_queue_full="block"``).
        """
        if not self.sampled:
            return
        processor = self._processor
        if processor is not None and self._started:
            processor.emit_record(self, work)
            return
        try:
            work()
        except Exception as exc:
            log_fault("deferred-record", "could not record a call's turns; they were dropped", exc)

    @property
    def server_id(self) -> Optional[str]:
        """The server id if known now, without waiting."""
        return self.delivery.server_id
