"""
:class:`Exporter`: the one object that ships recorded events, on background threads.

The caller's thread only appends an immutable event to a bounded in-memory queue (a
``deque``, no lock) and wakes a worker only when it sleeps deeply: a worker that
delivered in the last second polls its queue instead, so a burst costs no wake-ups.
Each session is pinned to one of ``exporter_workers`` threads (``provenant-exporter-N``),
so its create, turns and end go out in order; the first thread takes new sessions while
it keeps up, and the others, started the first time it falls behind, share them then::

    exporter.emit_turn(session, body)    # never blocks (unless on_queue_full="block")
    exporter.flush(timeout=5)            # True when everything was delivered
    exporter.stats()                     # enqueued, delivered, retried, dropped, queue_depth

Transient failures are retried as :data:`provenant.backends._retry.BACKGROUND_DELIVERY`
says (no connection, timeouts, 429 honouring Retry-After, 500/502/503/504); every write
carries one ``Idempotency-Key`` per event, reused on its retries, so an answer lost in a
restart never duplicates a record.

Forks: a worker never imports (everything it needs is imported before it starts), and
holds its lane's ``gate`` while it handles an event, letting go only while it waits (the
network, a backoff, another create). The fork hooks take every gate before the fork
(so no worker holds a lock, a session's, a transcript's or SQLite's, mid-use), give
them back in the parent, and give the child fresh locks, an empty queue, no connection
and no thread.
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
from provenant.backends import backend_class, open_backend
from provenant.backends._retry import BACKGROUND_DELIVERY
from provenant.backends.http import HttpBackend
from provenant.errors import (
    APIError,
    AuthenticationError,
    RateLimitError,
    ServerError,
    TransportError,
)
from provenant.tracing._ids import new_key

if TYPE_CHECKING:
    from provenant.backends import Backend
    from provenant.backends._agents import AgentDirectory
    from provenant.config import Settings
    from provenant.tracing._session import Session

__all__ = ["Exporter"]

_IDLE_WAIT_S = 1.0
# A worker that delivered lately looks at its queue this often without being woken, so
# that callers enqueue without a system call (waking a sleeping thread costs the caller
# about 18 us on the benchmark's VM, more than the rest of a call's recording). Events
# of a burst wait at most this long and go out together; after about a second without
# any, the worker sleeps until an event wakes it.
_POLL_S = 0.005
_POLLS_BEFORE_SLEEP = 200
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


class _Event:
    """
    One record to deliver: a session's create, one of its turns, or its end; or a
    deferred record (``kind == "record"``) whose ``work`` builds turns when dequeued.
    """

    __slots__ = ("body", "key", "kind", "session", "ticket", "work")

    def __init__(self, kind: str, session: Session, body: Optional[dict[str, Any]]) -> None:
        self.kind = kind
        self.session = session
        self.body = body
        self.key: Optional[str] = None  # the Idempotency-Key, chosen on the first attempt
        self.ticket = -1  # a create's place in the order of creates
        self.work: Optional[Callable[[], Sequence[dict[str, Any]]]] = None


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


class _Dropped(Exception):
    """An event cannot be delivered; ``reason`` names why (a stats key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fork_hook(ref: weakref.WeakMethod[Callable[[], None]]) -> Callable[[], None]:
    """A fork hook calling a method of an exporter, as long as the exporter lives."""

    def hook() -> None:
        method = ref()
        if method is not None:
            method()

    return hook


class Exporter:
    """
    Delivers the events of one client's sessions in the background.

    Args:
        settings: The client's settings (queue size and policy, workers, attempts).
        agents: The client's agent directory, shared with it.
    """

    def __init__(self, settings: Settings, agents: AgentDirectory) -> None:
        self._settings = settings
        self._agents = agents
        self._workers = max(1, settings.exporter_workers)
        self._max_queue = settings.max_queue_size
        # Imported here, on the caller's thread, before any worker starts: a worker must
        # never import (a fork while it does leaves the child's import locked forever).
        backend_class(settings)
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
        self._backend: Optional[Backend] = None
        self._http: Optional[HttpBackend] = None
        # Counted without a lock on the callers' threads: next() of a count is atomic (a
        # ``+=`` is not); stats() reads it by taking one number, remembered in _reads.
        self._enqueued = itertools.count()
        self._enqueued_reads = 0
        self._expanded = 0  # turns built by deferred records (counted as enqueued)
        self._drops_reported = 0  # drops already answered by a flush() (False)
        self._delivered = 0
        self._retried = 0
        self._dropped: dict[str, int] = {}
        self._auth_logged = False
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
        :data:`_SPILL_STALL_S` (a slow or stalled server), so a backlog still goes out in
        parallel.
        """
        lanes = self._lanes
        first = lanes[0]
        if len(lanes) == 1:
            return 0
        if len(first.queue) < _SPILL_DEPTH:
            since = first.delivering_since
            if not since or time.monotonic() - since < _SPILL_STALL_S:
                return 0
        return min(range(1, len(lanes)), key=lambda index: len(lanes[index].queue))

    def emit_create(self, session: Session, metadata: Optional[dict[str, Any]]) -> None:
        """Enqueue a session's create, with a snapshot of its metadata (the rest is built,
        and the agent resolved, by the worker)."""
        event = _Event("create", session, metadata)
        event.ticket = next(self._tickets)
        self._emit(event)

    def emit_turn(self, session: Session, body: dict[str, Any]) -> None:
        """Enqueue one turn of a session."""
        self._emit(_Event("turn", session, body))

    def emit_record(self, session: Session, work: Callable[[], Sequence[dict[str, Any]]]) -> None:
        """Enqueue deferred work of a session: the worker runs it in the session's order
        and delivers the turn bodies it returns (counted as enqueued then)."""
        event = _Event("record", session, None)
        event.work = work
        self._emit(event, 0)

    def emit_end(self, session: Session) -> None:
        """Enqueue a session's end (its body is built by the worker)."""
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

    def _drop(self, event: _Event, reason: str) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + 1
        if event.kind == "create":
            event.session._mark_created(None)
            self._finish_create(event.ticket)
        elif event.kind == "record":
            event.session._deferred_finished()

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
        self._local.lane = lane
        queue = lane.queue
        gate = lane.gate
        idle_polls = 0
        while True:
            lane.busy = True
            try:
                event = queue.popleft()
            except IndexError:
                lane.busy = False
                if self._stopping:
                    return
                if idle_polls < _POLLS_BEFORE_SLEEP:
                    idle_polls += 1
                    self._poll(lane)
                else:
                    self._sleep(lane)
                continue
            idle_polls = 0
            lane.delivering_since = time.monotonic()
            with gate:
                self._deliver(event)
            lane.delivering_since = 0.0

    @staticmethod
    def _poll(lane: _Lane) -> None:
        """Wait a little, unasked (``lane.sleeping`` stays False, so callers do not wake
        us); ``flush()`` and ``shutdown()`` still wake us at once."""
        lane.wake.wait(_POLL_S)
        lane.wake.clear()

    def _sleep(self, lane: _Lane) -> None:
        lane.sleeping = True
        if not lane.queue:  # an append that missed the flag is seen here
            lane.wake.wait(_IDLE_WAIT_S)
            lane.wake.clear()
        lane.sleeping = False

    # -- delivery ---------------------------------------------------------------------

    def _deliver(self, event: _Event) -> None:
        if event.kind == "record":
            self._deliver_record(event)
            return
        try:
            if event.kind == "create":
                self._deliver_create(event)
                return
            session = event.session
            server_id = session.server_id
            if server_id is None:
                raise _Dropped("session_not_created")
            if event.kind == "turn":
                assert event.body is not None
                self._send(event, f"/api/sessions/{server_id}/turns", event.body, answer=False)
            else:
                path = f"/api/sessions/{server_id}/end"
                self._send(event, path, session.end_body(), answer=False)
        except _Dropped as dropped:
            self._drop(event, dropped.reason)
        except Exception as exc:  # a bug of ours: never kill the worker
            log_fault("exporter", "the exporter failed to deliver an event; dropped it", exc)
            self._drop(event, "internal_error")

    def _deliver_record(self, event: _Event) -> None:
        """Run a deferred record's work here, in its session's order, and send its turns."""
        work = event.work
        event.work = None
        try:
            bodies = work() if work is not None else ()
        except Exception as exc:  # a fault of ours in deferred work never reaches the host
            log_fault("deferred-record", "could not record a call's turns; they were dropped", exc)
            self._drop(event, "record_failed")
            return
        event.session._deferred_finished()
        if not bodies:
            return
        with self._lock:  # the callers' counter is not locked: the workers keep their own
            self._expanded += len(bodies)
        session = event.session
        for body in bodies:
            self._deliver(_Event("turn", session, body))

    def _deliver_create(self, event: _Event) -> None:
        session = event.session
        parent = session.parent
        if parent is not None:
            # Same client: the parent's create went first on this worker. Another client's
            # parent may still be on its way: wait for it, briefly (the worker's time only).
            created = parent._creation()
            if created is not None:
                with self._waiting():
                    created.wait(_PARENT_WAIT_S)
        body = session.create_body(event.body)
        body["agentId"] = self._agent_id(event, session.agent or "")
        with self._waiting():
            self._await_earlier_creates(event.ticket)
        answer = self._send(event, "/api/sessions", body)
        session._mark_created(str(answer["id"]))
        self._finish_create(event.ticket)

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

    def _agent_id(self, event: _Event, agent: str) -> str:
        def lookup(name: str) -> str:
            request = _Event("agent", event.session, {})
            answer = self._send(request, "/api/agents/get-or-create", {"name": name}, count=False)
            return str(answer["id"])

        # One worker resolves a name while the others wait for its answer (letting go of
        # their gates): one request, and sessions of a new agent are created in about the
        # order they were opened.
        return self._agents.resolve(agent, lookup, waiting=self._waiting)

    def _send(
        self,
        event: _Event,
        path: str,
        body: dict[str, Any],
        count: bool = True,
        answer: bool = True,
    ) -> Any:
        """
        POST with retries on transient failures; raise :class:`_Dropped` when giving up.

        ``answer=False``: nobody reads the answer (turns, ends), so an HTTP backend does
        not decode it.
        """
        backend = self._get_backend()
        quiet = None if answer else self._http
        # Over the network the worker lets go of its gate; the embedded store's writes are
        # short and must not be cut by a fork (SQLite holds process-wide mutexes meanwhile).
        network = backend is self._http
        if event.key is None:
            event.key = new_key()
        attempt = 0
        while True:
            attempt += 1
            retry_after: Optional[float] = None
            try:
                with self._waiting(network):
                    if quiet is not None:
                        result = quiet.request(
                            "POST",
                            path,
                            body=body,
                            idempotency_key=event.key,
                            retries=0,
                            decode=False,
                        )
                    else:
                        result = backend.request(
                            "POST", path, body=body, idempotency_key=event.key, retries=0
                        )
            except AuthenticationError as exc:
                self._log_auth_once(exc)
                raise _Dropped("unauthorized") from None
            except RateLimitError as exc:
                retry_after = exc.retry_after
            except ServerError as exc:
                if not BACKGROUND_DELIVERY.retries_status(exc.status_code or 500):
                    raise _Dropped(f"rejected_{exc.status_code}") from None
            except TransportError:
                pass
            except APIError as exc:
                raise _Dropped(f"rejected_{exc.status_code}") from None
            else:
                if count:
                    with self._lock:
                        self._delivered += 1
                return result
            if attempt >= self._settings.max_delivery_attempts:
                raise _Dropped("retries_exhausted")
            with self._lock:
                self._retried += 1
            with self._waiting():
                stopped = self._stop.wait(
                    BACKGROUND_DELIVERY.wait_s(attempt - 1, retry_after) or 0.0
                )
            if stopped:
                raise _Dropped("shutdown")

    def _get_backend(self) -> Backend:
        backend = self._backend
        if backend is None:
            with self._lock:
                backend = self._backend
                if backend is None:
                    backend = self._backend = open_backend(self._settings)
                    # Only the HTTP backend has answers to leave undecoded.
                    self._http = backend if isinstance(backend, HttpBackend) else None
        return backend

    def read(self, path: str) -> Any:
        """
        ``GET`` a route for deferred work on a worker, without retries (a resumed
        session's turns); the gate is let go while it waits on the network.
        """
        backend = self._get_backend()
        with self._waiting(backend is self._http):
            return backend.request("GET", path, retries=0)

    def _log_auth_once(self, exc: AuthenticationError) -> None:
        with self._lock:
            if self._auth_logged:
                return
            self._auth_logged = True
        logger.log(
            logging.ERROR,
            "provenant: the API refused the API key %s... (401); nothing will be recorded "
            "until it is fixed. Check PROVENANT_API_KEY. (%s)",
            self._settings.key_prefix or "(none)",
            exc,
        )

    # -- flush, stats, shutdown -------------------------------------------------------

    def _idle(self) -> bool:
        return all(not lane.queue and not lane.busy for lane in self._lanes)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """
        Wait until every event is delivered or dropped; True when everything was delivered:
        the queue emptied in time and no event was dropped since the previous flush.
        """
        if self._pid != os.getpid():
            self._reset_state()
        if self._started:
            deadline = time.monotonic() + (
                self._settings.flush_timeout if timeout is None else timeout
            )
            for lane in self._lanes:
                lane.wake.set()
            while not self._idle():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_FLUSH_POLL_S)
        with self._lock:  # each drop is answered (False) by one flush
            dropped = sum(self._dropped.values())
            reported, self._drops_reported = self._drops_reported, dropped
        return dropped == reported

    def stats(self) -> dict[str, Any]:
        """Return the delivery counters."""
        with self._lock:
            enqueued = next(self._enqueued) - self._enqueued_reads
            self._enqueued_reads += 1
            return {
                "enqueued": enqueued + self._expanded,
                "delivered": self._delivered,
                "retried": self._retried,
                "dropped": dict(self._dropped),
                "queue_depth": self._depth(),
            }

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Flush (bounded), stop the workers, drop what is left (counted) and close."""
        if self._closed:
            return True
        delivered = self.flush(timeout)
        with self._lock:
            self._closed = True
            self._stopping = True
        self._stop.set()
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
                    self._drop(lane.queue.popleft(), "shutdown")
                except IndexError:
                    break
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as exc:
                log_fault("exporter-close", "closing the exporter's backend failed", exc)
        return delivered
