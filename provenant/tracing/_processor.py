"""
:class:`BatchProcessor`: the queue, the workers, ``flush``, ``shutdown``, fork and exit.

The caller's thread only appends an immutable event to a bounded in-memory queue (a
``deque``, no lock) and wakes a worker only when it sleeps deeply: a worker that
delivered in the last second polls its queue instead, so a burst costs no wake-ups.
Each session is pinned to one of ``exporter_workers`` threads (``provenant-exporter-N``),
so its create, turns and end go out in order; the first thread takes new sessions while
it keeps up, and the others, started the first time it falls behind, share them then::

    processor = BatchProcessor(settings, exporter)   # a StoreExporter or HttpExporter
    processor.emit_turn(session, record)  # never blocks (unless on_queue_full="block")
    processor.flush(timeout=5)            # True when everything was delivered
    processor.stats()                     # enqueued, delivered, retried, dropped, queue_depth

A worker takes everything waiting in its queue (up to :data:`_MAX_BATCH` events), turns
it into plain records (running deferred work, in each session's order) and hands them
to the exporter in one ``export(records)`` call: the embedded store writes them in one
transaction, the REST exporter sends them in order. The exporter retries on its own
(:mod:`provenant.backends._retry`); what it could not deliver comes back as a counted
drop with its reason.

Forks: a worker never imports (everything it needs is imported before it starts), and
holds its lane's ``gate`` while it handles a batch, letting go only while it waits (the
network, another create). The fork hooks take every gate before the fork (so no worker
holds a lock, a session's, a transcript's or SQLite's, mid-use), give them back in the
parent, and give the child fresh locks, an empty queue and no thread; the exporters
open their own connections in the child.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from provenant._logging import log_fault, logger
from provenant._sigterm import keep_off_this_thread
from provenant.backends._records import ExportResult, Record, SessionStart, TurnRecord

if TYPE_CHECKING:
    from provenant.backends._records import Exporter
    from provenant.config import Settings

    # What the processor reads of a session (a protocol: _session.py imports this module).
    from provenant.tracing._types import Delivered as Session

__all__ = ["BatchProcessor"]

_IDLE_WAIT_S = 1.0
# The most events a worker takes into one batch (one transaction of the embedded store).
_MAX_BATCH = 512
# A worker that delivered lately looks at its queue this often without being woken, so
# that callers enqueue without a system call (waking a sleeping thread costs the caller
# about 18 us on the benchmark's VM, more than the rest of a call's recording). Events
# of a burst wait at most this long and go out together; after about a second without
# any, the worker sleeps until an event wakes it.
# An exporter may ask for a longer interval (``batch_interval_s``): the embedded store's
# does, since each of its transactions costs more than the records it writes.
_POLL_S = 0.005
_IDLE_AFTER_S = 1.0
# New sessions go to the first worker until it falls behind by this many events, or
# until one event has held it this long (see Exporter.next_shard).
_SPILL_DEPTH = 64
_SPILL_STALL_S = 0.1
_FLUSH_POLL_S = 0.002
_BLOCK_POLL_S = 0.0005
# How long a create waits for the creates enqueued before it (on other workers), so that
# sessions appear on the server in the order they were opened; a bound, never a deadlock,
# paid once per stalled create (the creates behind it then pass it over).
_CREATE_ORDER_WAIT_S = 2.0
# How long a create waits for its parent session's create (another client's, say).
_PARENT_WAIT_S = 2.0
# How long a fork waits for a worker to finish handling its event (it never waits for the
# network); past it, the fork goes on without that worker's gate rather than hang.
_FORK_WAIT_S = 5.0

# Why an event was dropped, for the log line (the reason itself is the stats() key).
_DROP_REASONS = {
    "retries_exhausted": "the destination could not be reached, or kept failing, "
    "after every attempt (max_delivery_attempts)",
    "unauthorized": "the API refused the API key",
    "session_not_created": "its session was never created",
    "queue_full": "the queue was full (max_queue_size; on_queue_full='drop_newest')",
    "queue_full_oldest": "the queue was full (max_queue_size; on_queue_full='drop_oldest')",
    "queue_full_timeout": "the queue stayed full (on_queue_full='block', queue_block_timeout)",
    "no_worker": "no exporter thread could be started",
    "destination_unavailable": "the destination could not be opened (the error is logged)",
    "internal_error": "a fault of the SDK",
    "record_failed": "a fault of the SDK building a call's turns",
}


class _Event:
    """
    One record to deliver: a session's create, one of its turns, or its end; or a
    deferred record (``kind == "record"``) whose ``work`` builds turns when dequeued.
    """

    __slots__ = ("body", "kind", "session", "ticket", "work")

    def __init__(self, kind: str, session: Session, body: Any) -> None:
        self.kind = kind
        self.session = session
        self.body = body
        self.ticket = -1  # a create's place in the order of creates
        self.work: Optional[Callable[[], Sequence[TurnRecord]]] = None


class _Lane:
    """The queue, wake event, thread and fork gate of one worker."""

    __slots__ = ("busy", "delivering_since", "gate", "queue", "sleeping", "thread", "wake")

    def __init__(self) -> None:
        # Held by the worker while it handles an event, released while it waits: a fork
        # takes it, so that no worker is mid-way through anything at the fork.
        self.gate = threading.Lock()
        self.queue: deque[_Event] = deque()
        self.wake = threading.Event()
        self.sleeping = False
        self.busy = False
        # When the event in hand was taken (time.monotonic()), 0.0 between events.
        self.delivering_since = 0.0
        self.thread: Optional[threading.Thread] = None


def _fork_hook(ref: weakref.WeakMethod[Callable[[], None]]) -> Callable[[], None]:
    """A hook (of a fork, or the exporter's ``progress``) calling a method of a processor,
    as long as the processor lives."""

    def hook() -> None:
        method = ref()
        if method is not None:
            method()

    return hook


class BatchProcessor:
    """
    Delivers the events of one client's sessions in the background, in batches.

    Args:
        settings: The client's settings (queue size and policy, workers, flush timeout).
        exporter: Where batches of records go; built (its modules imported) on the
            caller's thread, so that a worker never imports.
    """

    def __init__(self, settings: Settings, exporter: Exporter) -> None:
        self._settings = settings
        self._exporter = exporter
        # An exporter that waits on the network is called with the worker's fork gate let
        # go; the embedded store's writes are short and must not be cut by a fork (SQLite
        # holds process-wide mutexes meanwhile).
        self._network = bool(getattr(exporter, "network", False))
        self._poll_s = float(getattr(exporter, "batch_interval_s", _POLL_S))
        # A spooling exporter: creates settle later, flush and stats reach its forwarder.
        self._watch_create: Optional[Callable[[str, Callable[[Optional[str]], None]], None]] = (
            getattr(exporter, "watch_create", None)
        )
        self._exporter_flush: Optional[Callable[[float], bool]] = getattr(exporter, "flush", None)
        self._exporter_stats: Optional[Callable[[], dict[str, Any]]] = getattr(
            exporter, "stats", None
        )
        self._polls_before_sleep = max(1, int(_IDLE_AFTER_S / self._poll_s))
        self._workers = max(1, settings.exporter_workers)
        if hasattr(exporter, "progress"):
            # A network exporter says when each record of a batch is settled, so that
            # next_shard() tells a stalled worker from one busy with a long batch.
            exporter.progress = _fork_hook(weakref.WeakMethod(self._progress))
        self._max_queue = settings.max_queue_size
        self._reset_state()
        # Where forks run these hooks, a child starts afresh before its first event; only
        # elsewhere does each event compare the process id (os.getpid() is a system call,
        # about 0.7 us, on every enqueue: the hooks cost nothing until a fork).
        self._watch_pid = not hasattr(os, "register_at_fork")
        if not self._watch_pid:
            os.register_at_fork(
                before=_fork_hook(weakref.WeakMethod(self._before_fork)),
                after_in_parent=_fork_hook(weakref.WeakMethod(self._after_fork_in_parent)),
                after_in_child=_fork_hook(weakref.WeakMethod(self._reset_state)),
            )

    def _reset_state(self) -> None:
        """Start from nothing: in ``__init__``, and in a forked child (no threads, no queue,
        fresh locks, no connection)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._local = threading.local()  # .lane: the lane of a worker thread
        self._fork_gates: list[threading.Lock] = []  # held from before a fork to after it
        self._lanes = [_Lane() for _ in range(self._workers)]
        self._queues = [lane.queue for lane in self._lanes]
        self._started = False
        self._stopping = False
        self._closed = False
        self._stop = threading.Event()
        # Counted without a lock on the callers' threads: next() of a count is atomic (a
        # ``+=`` is not); stats() reads it by taking one number, remembered in _reads.
        self._enqueued = itertools.count()
        self._enqueued_reads = 0
        self._expanded = 0  # turns built by deferred records (counted as enqueued)
        self._drops_reported = 0  # drops already answered by a flush() (False)
        self._delivered = 0
        self._retried = 0
        self._dropped: dict[str, int] = {}
        self._tickets = itertools.count()
        self._creates_cond = threading.Condition(threading.Lock())
        self._creates_next = 0  # the oldest create not finished yet
        self._creates_finished: set[int] = set()
        self._creates_stalled = -1  # the oldest create, once it outlasted a wait
        self._atexit: Optional[Callable[[], None]] = None

    def _before_fork(self) -> None:
        """Take every worker's gate: each finishes the event in hand, or is waiting."""
        current = threading.current_thread()
        gates = []
        for lane in self._lanes:
            if lane.thread is current:
                continue  # a worker that forks (from a log handler, say) holds its own
            if lane.gate.acquire(timeout=_FORK_WAIT_S):
                gates.append(lane.gate)
        self._fork_gates = gates

    def _after_fork_in_parent(self) -> None:
        """Give the workers their gates back."""
        gates, self._fork_gates = self._fork_gates, []
        for gate in gates:
            gate.release()

    @contextlib.contextmanager
    def _waiting(self, wait: bool = True) -> Iterator[None]:
        """
        Let go of this worker's gate while it waits (``wait``), so that a fork never waits
        for the network, a backoff or another create; anything taken meanwhile must be the
        exporter's own (a child replaces it) and given back before the gate is taken again.
        """
        lane: Optional[_Lane] = getattr(self._local, "lane", None) if wait else None
        if lane is None:
            yield
            return
        lane.gate.release()
        try:
            yield
        finally:
            lane.gate.acquire()

    # -- the caller's side ----------------------------------------------------------

    def next_shard(self) -> int:
        """
        Pick the worker of a new root session: the first one while it keeps up, else the
        least loaded.

        One worker delivers a steady stream of sessions at a fraction of the process's CPU
        and GIL time that four workers sharing it would take (each polls its queue and
        wakes for its own share). The others take new sessions only when the first falls
        behind: its queue holds :data:`_SPILL_DEPTH` events, or one event has held it for
        :data:`_SPILL_STALL_S` (a slow or stalled server; the exporter's ``progress``
        marks each record of a batch), so a backlog still goes out in parallel. An
        exporter that does not wait on the network (the embedded store, one writer of one
        file) keeps every session on the first worker.
        """
        lanes = self._lanes
        first = lanes[0]
        if len(lanes) == 1 or not self._network:
            return 0
        if len(first.queue) < _SPILL_DEPTH:
            since = first.delivering_since
            if not since or time.monotonic() - since < _SPILL_STALL_S:
                return 0
        return min(range(1, len(lanes)), key=lambda index: len(lanes[index].queue))

    def emit_create(self, session: Session, metadata: Optional[dict[str, Any]]) -> None:
        """Enqueue a session's create, with a snapshot of its metadata (the rest is built,
        and the agent resolved, by the worker)."""
        session.delivery.awaiting = True
        event = _Event("create", session, metadata)
        event.ticket = next(self._tickets)
        self._emit(event)

    def emit_turn(self, session: Session, record: TurnRecord) -> None:
        """Enqueue one turn of a session."""
        self._emit(_Event("turn", session, record))

    def emit_record(self, session: Session, work: Callable[[], Sequence[TurnRecord]]) -> None:
        """Enqueue deferred work of a session: the worker runs it in the session's order
        and delivers the turn records it returns (counted as enqueued then)."""
        session.delivery.deferred += 1
        event = _Event("record", session, None)
        event.work = work
        self._emit(event, 0)

    def emit_end(self, session: Session) -> None:
        """Enqueue a session's end (its record is built by the worker)."""
        self._emit(_Event("end", session, None))

    def _emit(self, event: _Event, count: int = 1) -> None:
        if self._watch_pid and self._pid != os.getpid():
            self._reset_state()
        if self._closed:
            self._drop(event, "shutdown")
            return
        if not self._started:
            try:
                self._start()
            except Exception as exc:  # no new thread (interpreter shutdown): never raise
                log_fault("exporter-start", "could not start the exporter; dropped an event", exc)
                self._drop(event, "no_worker")
                return
        lanes = self._lanes
        if self._depth() >= self._max_queue and not self._make_room(event):
            return
        lane = lanes[event.session.shard]
        if lane.thread is None and not self._start_spill_worker(lane):
            self._drop(event, "no_worker")
            return
        lane.queue.append(event)
        if count:
            next(self._enqueued)
        if lane.sleeping:
            lane.wake.set()

    def _depth(self) -> int:
        """Events waiting in all the workers' queues (summed in C: on every enqueue)."""
        return sum(map(len, self._queues))

    def _make_room(self, event: _Event) -> bool:
        """Apply ``on_queue_full``; True when ``event`` may be enqueued."""
        policy = self._settings.on_queue_full
        lanes = self._lanes
        if policy == "drop_oldest":
            longest = max(lanes, key=lambda lane: len(lane.queue))
            try:
                oldest = longest.queue.popleft()
            except IndexError:
                return True
            self._drop(oldest, "queue_full_oldest")
            return True
        if policy == "block":
            deadline = time.monotonic() + self._settings.queue_block_timeout
            while self._depth() >= self._max_queue:
                if time.monotonic() >= deadline or self._closed:
                    self._drop(event, "queue_full_timeout")
                    return False
                time.sleep(_BLOCK_POLL_S)
            return True
        self._drop(event, "queue_full")
        return False

    def _drop(self, event: _Event, reason: str, log: bool = True) -> None:
        with self._lock:
            count = self._dropped[reason] = self._dropped.get(reason, 0) + 1
        if event.kind == "create":
            # Remembered so that its turns' drops (session_not_created) can say why.
            event.session.delivery.dropped = reason
        if log:
            cause = event.session.delivery.dropped if reason == "session_not_created" else None
            self._log_drops(reason, count, cause)
        if event.kind == "create":
            event.session.delivery.mark_created(None)
            self._finish_create(event.ticket)
        elif event.kind == "record":
            event.session.delivery.deferred_finished()

    # -- threads ----------------------------------------------------------------------

    def _start(self) -> None:
        """Start the first worker (the others start when it first falls behind)."""
        with self._lock:
            if self._started or self._closed:
                return
            self._start_worker(0)
            ref = weakref.ref(self)

            def flush_at_exit() -> None:
                exporter = ref()
                if exporter is not None:
                    exporter.shutdown(exporter._settings.flush_timeout)

            self._atexit = flush_at_exit
            atexit.register(flush_at_exit)
            self._started = True

    def _start_worker(self, index: int) -> None:
        """Start the thread of lane ``index`` (with ``self._lock`` held)."""
        lane = self._lanes[index]
        if lane.thread is not None and lane.thread.is_alive():
            return  # started by an earlier attempt that failed part way
        thread = threading.Thread(
            target=self._run, args=(lane,), name=f"provenant-exporter-{index}", daemon=True
        )
        thread.start()
        lane.thread = thread

    def _start_spill_worker(self, lane: _Lane) -> bool:
        """
        Start a worker other than the first, the first time a session is given to it
        (:meth:`next_shard`: the first fell behind). Most processes never need one, so
        they keep one exporter thread. False when no thread can be started.
        """
        try:
            with self._lock:
                if lane.thread is None and not self._closed:
                    self._start_worker(self._lanes.index(lane))
            return True
        except Exception as exc:  # no new thread (interpreter shutdown): never raise
            log_fault("exporter-start", "could not start an exporter worker; dropped an event", exc)
            return False

    def _run(self, lane: _Lane) -> None:
        keep_off_this_thread()  # SIGTERM goes to the main thread (see _sigterm.py)
        self._local.lane = lane
        queue = lane.queue
        gate = lane.gate
        idle_polls = 0
        while True:
            lane.busy = True
            batch = _take(queue)
            if not batch:
                lane.busy = False
                if self._stopping:
                    return
                if idle_polls < self._polls_before_sleep:
                    idle_polls += 1
                    self._poll(lane)
                else:
                    self._sleep(lane)
                continue
            idle_polls = 0
            lane.delivering_since = time.monotonic()
            with gate:
                self._export(batch)
            lane.delivering_since = 0.0

    def _progress(self) -> None:
        """A record of this worker's batch was settled: the next one starts now."""
        lane: Optional[_Lane] = getattr(self._local, "lane", None)
        if lane is not None:
            lane.delivering_since = time.monotonic()

    def _poll(self, lane: _Lane) -> None:
        """Wait a little, unasked (``lane.sleeping`` stays False, so callers do not wake
        us); ``flush()`` and ``shutdown()`` still wake us at once."""
        lane.wake.wait(self._poll_s)
        lane.wake.clear()

    def _sleep(self, lane: _Lane) -> None:
        lane.sleeping = True
        if not lane.queue:  # an append that missed the flag is seen here
            lane.wake.wait(_IDLE_WAIT_S)
            lane.wake.clear()
        lane.sleeping = False

    # -- delivery ---------------------------------------------------------------------

    def _export(self, batch: list[_Event]) -> None:
        """Turn a batch of events into records, export them, and settle each event."""
        records: list[Record] = []
        owners: list[_Event] = []
        first_create = -1
        for event in batch:
            try:
                kind = event.kind
                if kind == "record":
                    for turn in self._run_deferred(event):
                        records.append(self._with_id(event.session, turn))
                        owners.append(_Event("turn", event.session, None))
                    continue
                if kind == "create":
                    record: Record = self._start_record(event)
                    if first_create < 0:
                        first_create = event.ticket
                elif kind == "turn":
                    record = self._with_id(event.session, event.body)
                else:
                    record = event.session.end_record()
            except Exception as exc:  # a bug of ours: never kill the worker
                log_fault("exporter", "could not build a record of an event; dropped it", exc)
                self._drop(event, "internal_error")
                continue
            records.append(record)
            owners.append(event)
        if not records:
            return
        if first_create >= 0:
            with self._waiting():
                self._await_earlier_creates(first_create)
        try:
            with self._waiting(self._network):
                result = self._exporter.export(records)
        except Exception as exc:  # the exporters never raise: a bug of ours
            log_fault("exporter", "the exporter failed on a batch; dropped it", exc)
            result = ExportResult(["internal_error"] * len(records), {})
        self._settle(records, owners, result)

    def _settle(self, records: list[Record], owners: list[_Event], result: ExportResult) -> None:
        """Count what was delivered and dropped; tell sessions their ids."""
        delivered = 0
        for record, event, outcome in zip(records, owners, result.outcomes):
            if outcome is None:
                delivered += 1
                if event.kind == "create":
                    server_id = result.session_ids.get(record.key)
                    if server_id is None and self._watch_create is not None:
                        # Spooled, not sent yet: the id comes when the forwarder has it.
                        self._watch_create(record.key, event.session.delivery.mark_created)
                    else:
                        event.session.delivery.mark_created(server_id)
                    self._finish_create(event.ticket)
            else:
                self._drop(event, outcome)
        with self._lock:
            self._delivered += delivered
            self._retried += result.retried

    @staticmethod
    def _with_id(session: Session, record: TurnRecord) -> TurnRecord:
        """A turn names its session's id when known (a resumed session's, say)."""
        if record.session_id is None:
            record.session_id = session.delivery.server_id
        return record

    def _start_record(self, event: _Event) -> SessionStart:
        session = event.session
        parent = session.parent
        if parent is not None and parent._processor is not self:
            # Another client's parent may still be on its way: wait for it, briefly (the
            # worker's time only). This client's parent went first on this worker.
            created = parent.delivery.creation()
            if created is not None:
                with self._waiting():
                    created.wait(_PARENT_WAIT_S)
        return session.start_record(event.body)

    def _run_deferred(self, event: _Event) -> Sequence[TurnRecord]:
        """Run a deferred record's work here, in its session's order: its turns."""
        work = event.work
        event.work = None
        try:
            turns = work() if work is not None else ()
        except Exception as exc:  # a fault of ours in deferred work never reaches the host
            log_fault("deferred-record", "could not record a call's turns; they were dropped", exc)
            self._drop(event, "record_failed")
            return ()
        event.session.delivery.deferred_finished()
        if turns:
            with self._lock:  # the callers' counter is not locked: the workers keep their own
                self._expanded += len(turns)
        return turns

    def _await_earlier_creates(self, ticket: int) -> None:
        """
        Wait (bounded) until every create enqueued before this one has finished.

        The oldest unfinished create that outlasts one wait is marked stalled: the creates
        behind it no longer wait for it (until it finishes), so it delays them once, not
        each in turn.
        """
        deadline = time.monotonic() + _CREATE_ORDER_WAIT_S
        with self._creates_cond:
            while self._creates_next < ticket and not self._stopping:
                if self._creates_next == self._creates_stalled:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._creates_stalled = self._creates_next
                    self._creates_cond.notify_all()
                    return
                self._creates_cond.wait(remaining)

    def _finish_create(self, ticket: int) -> None:
        """Mark a create delivered or dropped (idempotent) and wake the creates behind it."""
        if ticket < 0:
            return
        with self._creates_cond:
            if ticket < self._creates_next or ticket in self._creates_finished:
                return
            self._creates_finished.add(ticket)
            while self._creates_next in self._creates_finished:
                self._creates_finished.discard(self._creates_next)
                self._creates_next += 1
            self._creates_cond.notify_all()

    def read(self, path: str) -> Any:
        """
        ``GET`` a route for deferred work on a worker, without retries (a resumed
        session's turns); the gate is let go while it waits on the network.
        """
        with self._waiting(self._network):
            return self._exporter.read(path)

    @staticmethod
    def _log_drops(reason: str, count: int, cause: Optional[str] = None) -> None:
        """One line per reason per minute: records are lost, how many, and why (``cause``:
        why the session of a ``session_not_created`` drop was not created, when known)."""
        why = _DROP_REASONS.get(reason, reason.replace("_", " "))
        if cause is not None:
            cause_why = _DROP_REASONS.get(cause, cause.replace("_", " "))
            why = f"{why}, its create was dropped as {cause}, {cause_why}"
        log_fault(
            f"exporter-dropped-{reason}",
            f"dropped {count} event{'s' if count > 1 else ''} so far ({reason}: {why}); "
            "stats() counts them",
            level=logging.ERROR,
            note_repeats=False,
        )

    def _log_drop_summary(self) -> None:
        """At shutdown (and so at exit): how many events were lost in all, and why."""
        with self._lock:
            dropped = dict(self._dropped)
        total = sum(dropped.values())
        if total:
            logger.error(
                "provenant: %d event%s never delivered (%s); stats() counts them",
                total,
                "s were" if total > 1 else " was",
                ", ".join(f"{reason}: {count}" for reason, count in sorted(dropped.items())),
            )

    # -- flush, stats, shutdown -------------------------------------------------------

    def _idle(self) -> bool:
        return all(not lane.queue and not lane.busy for lane in self._lanes)

    def flush(self, timeout: Optional[float] = None, to_destination: bool = True) -> bool:
        """
        Wait until every event is delivered or dropped; True when everything was delivered:
        the queue emptied in time and no event was dropped since the previous flush.
        ``to_destination=False``: only until the exporter has them (a spool's records are
        on local disk, not yet at the API).
        """
        if self._pid != os.getpid():
            self._reset_state()
        deadline = time.monotonic() + (self._settings.flush_timeout if timeout is None else timeout)
        if self._started:
            for lane in self._lanes:
                lane.wake.set()
            while not self._idle():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_FLUSH_POLL_S)
        # A spool's records on their way to the API: wait for them too.
        flush = self._exporter_flush
        if (
            flush is not None
            and to_destination
            and not self._closed
            and not flush(deadline - time.monotonic())
        ):
            return False
        with self._lock:  # each drop is answered (False) by one flush
            dropped = sum(self._dropped.values())
            reported, self._drops_reported = self._drops_reported, dropped
        return dropped == reported

    def stats(self) -> dict[str, Any]:
        """Return the delivery counters."""
        with self._lock:
            enqueued = next(self._enqueued) - self._enqueued_reads
            self._enqueued_reads += 1
            numbers: dict[str, Any] = {
                "enqueued": enqueued + self._expanded,
                "delivered": self._delivered,
                "retried": self._retried,
                "dropped": dict(self._dropped),
                "queue_depth": self._depth(),
            }
        if self._exporter_stats is not None:
            more = self._exporter_stats()
            numbers["retried"] += more.pop("retried", 0)
            if "delivered" in more:  # a spool: written to it, and sent on by a forwarder
                numbers["spooled"] = numbers["delivered"]
            for reason, count in more.pop("dropped", {}).items():
                numbers["dropped"][reason] = numbers["dropped"].get(reason, 0) + count
            numbers.update(more)
        return numbers

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Flush (bounded), stop the workers, drop what is left (counted) and close."""
        if self._closed:
            return True
        delivered = self.flush(timeout)
        with self._lock:
            self._closed = True
            self._stopping = True
        self._stop.set()
        self._exporter.interrupt()
        with self._creates_cond:
            self._creates_cond.notify_all()
        deadline = time.monotonic() + 1.0
        for lane in self._lanes:
            lane.wake.set()
        for lane in self._lanes:
            thread = lane.thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        for lane in self._lanes:
            while lane.queue:
                try:
                    self._drop(lane.queue.popleft(), "shutdown", log=False)
                except IndexError:
                    break
        self._log_drop_summary()
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        try:
            self._exporter.shutdown()
        except Exception as exc:
            log_fault("exporter-close", "closing the exporter failed", exc)
        return delivered


def _take(queue: deque[_Event]) -> list[_Event]:
    """Everything waiting in ``queue``, oldest first, up to :data:`_MAX_BATCH` events."""
    batch: list[_Event] = []
    popleft = queue.popleft
    try:
        while len(batch) < _MAX_BATCH:
            batch.append(popleft())
    except IndexError:
        pass
    return batch
