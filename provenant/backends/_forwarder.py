"""
The forwarder: one thread per host and spool file that delivers the spool to the API.

::

    forwarder = Forwarder(path, make_exporter, on_created=notify)
    forwarder.start()          # a daemon thread: elected by a file lock, else waiting
    forwarder.wake()           # records were appended
    forwarder.stop(timeout=1)  # stop; what is pending stays in the spool

Every process that records to one spool file runs a forwarder thread, and one of them
delivers: the one holding ``<spool>.lock`` (``fcntl.flock``, not blocking). The others
try the lock every second and take over when its holder exits or dies (the kernel
releases a dead process's lock). The holder reads the spool oldest first, in pages,
and sends each record through an :class:`~provenant.backends._http_exporter.HttpExporter`
(the contract's requests, agent resolution, short retries), one at a time, so a
session's records arrive in order. What the server accepted is deleted from the spool;
what it refused for good (a 4xx other than 401 and 429) is deleted and counted; on
anything else (no connection, 5xx, 401, a wait cut by shutdown) the record stays and
the forwarder tries again after a backoff, for as long as the process lives.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, Optional, Tuple, cast

from provenant._logging import log_fault
from provenant._sigterm import keep_off_this_thread
from provenant.backends._agents import AgentDirectory
from provenant.backends._records import Record, SessionEnd, SessionStart
from provenant.backends._retry import SPOOL_FORWARDING
from provenant.backends._spool import Spool, SpoolRow, decode_record
from provenant.backends._transport import HttpRequest, HttpResponse, Transport

try:  # POSIX; elsewhere every process delivers (no election)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Forwarder", "ObservedTransport"]

_PAGE = 256
_LOCK_RETRY_S = 1.0
_IDLE_POLL_S = 0.1
_WATCH_POLL_S = 0.05
_STATUS_EVERY_S = 1.0
_RATE_WINDOW_S = 60.0
_BACKLOG_EVERY_S = 10.0
#: A backlog whose oldest record is older than this is logged (once, not per record).
OLD_BACKLOG_S = 300.0
# Outcomes of the HTTP exporter after which the record is kept and tried again later.
_KEEP = frozenset({"retries_exhausted", "shutdown", "unauthorized", "internal_error"})


#: How long a fork waits for the forwarder to leave SQLite (it never waits on the network
#: holding the gate); past it, the fork goes on rather than hang.
_FORK_WAIT_S = 5.0


class _GatedSpool:
    """The forwarder's :class:`Spool`, each call made holding the forwarder's fork gate."""

    def __init__(self, spool: Spool, forwarder: Forwarder) -> None:
        self._spool = spool
        self._forwarder = forwarder

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._spool, name)
        forwarder = self._forwarder

        def gated(*args: Any, **kwargs: Any) -> Any:
            with forwarder._gate:
                return method(*args, **kwargs)

        return gated


class ObservedTransport:
    """
    A :class:`~provenant.backends._transport.Transport` that remembers what the
    forwarder reports: the last error (the rate limit last seen is the backend's pacer's).
    """

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.last_error: Optional[str] = None
        self.failures = 0  # exchanges that failed (each is tried again)

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Exchange ``request`` on the inner transport, noting the answer."""
        try:
            answer = self._inner.handle(request)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.failures += 1
            raise
        if answer.status >= 400:
            self.failures += answer.status >= 429
            target = request.target.split("?", 1)[0]
            self.last_error = f"HTTP {answer.status} on {request.method} {target}"
        return answer

    def close(self) -> None:
        """Close the inner transport."""
        self._inner.close()


class _Keys:
    """The ``new_key`` of the forwarder's HTTP exporter: the spooled record's key once,
    then fresh ones (an agent lookup)."""

    def __init__(self, new_key: Callable[[], str]) -> None:
        self._new_key = new_key
        self.next: Optional[str] = None

    def __call__(self) -> str:
        key, self.next = self.next, None
        return key if key is not None else self._new_key()


class Forwarder:
    """
    Delivers one spool file to the API (see the module's docstring).

    Args:
        path: The spool file.
        make_exporter: Builds ``(exporter, transport, backend)`` on the caller's thread:
            an ``HttpExporter`` with the given ``new_key`` and agent directory.
        new_key: Makes idempotency keys for agent lookups.
        on_created: Told ``(session key, server id or None)`` when a create is settled.
    """

    def __init__(
        self,
        path: str,
        make_exporter: Callable[
            [Callable[[], str], AgentDirectory], Tuple[Any, ObservedTransport, Any]
        ],
        new_key: Callable[[], str],
        on_created: Callable[[str, Optional[str]], None],
        watched: Callable[[], Any],
    ) -> None:
        self._path = path
        self._keys = _Keys(new_key)
        self._agents = AgentDirectory()
        self._exporter, self._transport, self._backend = make_exporter(self._keys, self._agents)
        self._on_created = on_created
        self._watched = watched
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock_fd: Optional[int] = None
        self.holder = False
        self.delivered = 0
        self.dropped: Dict[str, int] = {}
        self.resent = 0
        self.retried = 0
        self.last_error: Optional[str] = None
        self.last_error_at: Optional[float] = None
        self.next_retry_at: Optional[float] = None
        self._failures = 0
        self._recent: Deque[Tuple[float, int]] = collections.deque()
        self._ids: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._status_at = 0.0
        # A delivered record whose delete waits for the next commit (seq, created): it is
        # settled with the next record's try, in one transaction, before that is sent.
        self._done: Optional[Tuple[int, Optional[Tuple[str, str]]]] = None
        # Held while this thread is inside SQLite (never while it waits on the network):
        # a fork takes it first, so a child never inherits SQLite's mutexes mid-use.
        self._gate = threading.Lock()
        self._fork_holds = False
        if hasattr(os, "register_at_fork"):
            # A forked child must not keep the lock alive through its copy of the
            # descriptor (its parent may die; the child's own forwarder takes over).
            ref = weakref.ref(self)

            def before_fork() -> None:
                forwarder = ref()
                if forwarder is not None and threading.current_thread() is not forwarder._thread:
                    forwarder._fork_holds = forwarder._gate.acquire(timeout=_FORK_WAIT_S)

            def after_in_parent() -> None:
                forwarder = ref()
                if forwarder is not None and forwarder._fork_holds:
                    forwarder._fork_holds = False
                    forwarder._gate.release()

            def close_in_child() -> None:
                forwarder = ref()
                if forwarder is not None:
                    forwarder._gate = threading.Lock()
                    forwarder._fork_holds = False
                    forwarder._release()

            os.register_at_fork(
                before=before_fork, after_in_parent=after_in_parent, after_in_child=close_in_child
            )
        self._backlog_at = 0.0
        self._backlog_logged = False

    # -- life -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            thread = threading.Thread(target=self._run, name="provenant-forwarder", daemon=True)
            thread.start()
            self._thread = thread

    def wake(self) -> None:
        """Records were appended: look at the spool now."""
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop delivering (a wait between tries ends at once) and let go of the lock."""
        self._stop.set()
        self._wake.set()
        self._exporter.interrupt()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        try:
            self._exporter.shutdown()
        except Exception as exc:
            log_fault("forwarder-close", "closing the forwarder's connections failed", exc)

    @property
    def rate_limit(self) -> Any:
        """The rate limit the API last announced to this process (the backend's pacer's
        :class:`~provenant.backends._pacing.RateLimit`), or ``None``."""
        return getattr(self._backend, "rate_limit", None)

    def _rate_limit_seen(self) -> Optional[Dict[str, Any]]:
        """:attr:`rate_limit` for the status table, once the API announced one."""
        seen = self.rate_limit
        if seen is None or seen.limit is None:
            return None
        return dict(seen._asdict())

    def rate(self) -> float:
        """Records delivered per second over the last minute."""
        now = time.monotonic()
        recent = self._recent
        while recent and recent[0][0] < now - _RATE_WINDOW_S:
            recent.popleft()
        if not recent:
            return 0.0
        span = max(1.0, min(_RATE_WINDOW_S, now - recent[0][0]))
        return sum(count for _, count in recent) / span

    # -- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        keep_off_this_thread()  # SIGTERM goes to the main thread (see _sigterm.py)
        try:
            with self._gate:
                opened = Spool(self._path)
            spool = cast(Spool, _GatedSpool(opened, self))
        except Exception as exc:
            log_fault("forwarder-open", f"the forwarder cannot open {self._path}", exc)
            return
        try:
            while not self._stop.is_set():
                if not self.holder and not self._elect(spool):
                    self._watch(spool)
                    continue
                try:
                    self._deliver_all(spool)
                except Exception as exc:  # a fault of ours, or of the disk: keep going
                    log_fault("forwarder", "the forwarder failed; trying again", exc)
                    self._note_error(f"{type(exc).__name__}: {exc}")
                    self._back_off(spool)
                self._write_status(spool)
        finally:
            with contextlib.suppress(Exception):  # the delivered record's delete
                self._settle(spool)
            self._write_status(spool, force=True)
            self._release()
            spool.close()

    def _elect(self, spool: Spool) -> bool:
        """Try to take the lock; True when this process delivers now."""
        if fcntl is None:  # pragma: no cover - Windows
            self.holder = True
            return True
        if self._lock_fd is None:
            self._lock_fd = os.open(self._path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        self.holder = True
        # A record tried but still pending was in flight when the last holder stopped:
        # it goes again with its key (a duplicate only where keys are not honoured).
        self.resent += spool.resent_count()
        spool.forget_old_sessions()
        self._write_status(spool, force=True)  # `provenant spool status` names it at once
        self._status_at = 0.0  # and the first round's outcome is written when it ends
        return True

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        self.holder = False
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # releases the lock (a forked child's copy closes in it)

    def _watch(self, spool: Spool) -> None:
        """Not the holder: tell waiting sessions the ids another process learned, and
        try the lock again in a second."""
        deadline = time.monotonic() + _LOCK_RETRY_S
        while not self._stop.is_set():
            keys = list(self._watched())
            if keys:
                for key, server_id in spool.session_ids(keys).items():
                    self._on_created(key, server_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, _WATCH_POLL_S if keys else remaining))

    def _deliver_all(self, spool: Spool) -> None:
        """Deliver pages until the spool is empty, then wait for more."""
        self._settle(spool)  # one left by a fault: never read again as pending
        after = 0
        while not self._stop.is_set():
            rows = spool.pending(after, _PAGE)
            if not rows:
                self._settle(spool)  # before the next page from the start reads it again
                if after == 0:
                    self._wake.wait(_IDLE_POLL_S)
                    self._wake.clear()
                return
            records = [decode_record(row.kind, row.body) for row in rows]
            # Sent one by one (a session's order holds across a failed try), but planned
            # as a page: a FAILED session's outcome rides on its create or last turn
            # when its end is already spooled (for a server whose end drops status).
            carriers = self._exporter.plan_outcomes(records)
            for index, (row, record) in enumerate(zip(rows, records)):
                if self._stop.is_set():
                    self._settle(spool)
                    return
                if not self._deliver(spool, row, record, carriers.get(index)):
                    self._settle(spool)
                    self._back_off(spool)
                    return
                after = row.seq
            self._write_status(spool)

    def _deliver(
        self, spool: Spool, row: SpoolRow, record: Record, outcome_carried: Optional[str]
    ) -> bool:
        """Send one record (``outcome_carried``: the session's outcome, carried in its
        metadata); False when it must be tried again later."""
        token = row.session[: row.session.index("/") + 1]
        if isinstance(record, SessionStart):
            if record.parent_id is None and record.parent_key is not None:
                record.parent_id = self._server_id(spool, token + record.parent_key)
            if not self._resolve_agent(record):
                return False
        elif record.session_id is None:
            record.session_id = self._server_id(spool, row.session)
            if record.session_id is None:
                self._refused(spool, row, record, "session_not_created")
                return True
        self._settle(spool, then_try=row.seq)
        self._keys.next = row.idem
        result = self._exporter.export([record], [outcome_carried])
        self._keys.next = None
        self.retried += result.retried
        outcome = result.outcomes[0] if result.outcomes else "internal_error"
        if outcome is None:
            created = None
            if isinstance(record, SessionStart):
                server_id = result.session_ids.get(record.key)
                if server_id is not None:
                    created = (row.session, server_id)
                    self._remember(row.session, server_id)
            self._done = (row.seq, created)  # deleted with the next commit
            if created is not None:
                self._on_created(created[0], created[1])
            if isinstance(record, SessionEnd):
                self._ids.pop(row.session, None)
            self._succeeded()
            return True
        if outcome in _KEEP or outcome.startswith("rejected_5"):
            self._note_error(self._transport.last_error or outcome)
            return False
        self._refused(spool, row, record, outcome)
        return True

    def _settle(self, spool: Spool, then_try: Optional[int] = None) -> None:
        """
        Delete the record delivered last, and count a try of ``then_try``, in one commit.

        A record is announced (its ``tries`` counted) before it is sent, and deleted once
        accepted; doing the one with the other halves the forwarder's commits, and a
        crash still leaves at most the record in flight to be sent again (with its key).
        """
        done, self._done = self._done, None
        if done is not None:
            spool.delivered(done[0], done[1], then_try=then_try)
        elif then_try is not None:
            spool.mark_try(then_try)

    def _resolve_agent(self, record: SessionStart) -> bool:
        """Resolve the session's agent first (so the exporter's only request with a key
        is the record's own); False when the API could not answer."""

        def lookup(name: str) -> str:
            # Safe to repeat (a key, and get-or-create): the explicit calls' few retries.
            answer = self._backend.request(
                "POST",
                "/api/agents/get-or-create",
                body={"name": name},
                idempotency_key=self._keys(),
                retries=None,
            )
            return str(answer["id"])

        try:
            agent_id = self._agents.resolve(record.agent, lookup)
        except Exception as exc:
            self._note_error(self._transport.last_error or f"{type(exc).__name__}: {exc}")
            return False
        # The exporter's directory is this one: the id resolves to itself, with no lookup.
        self._agents.remember(agent_id, agent_id)
        record.agent = agent_id
        return True

    def _server_id(self, spool: Spool, key: str) -> Optional[str]:
        server_id = self._ids.get(key)
        if server_id is None:
            server_id = spool.session_id(key)
            if server_id is not None:
                self._remember(key, server_id)
        return server_id

    def _remember(self, key: str, server_id: str) -> None:
        ids = self._ids
        ids[key] = server_id
        if len(ids) > 4096:
            ids.popitem(last=False)

    def _refused(self, spool: Spool, row: SpoolRow, record: Record, reason: str) -> None:
        """The API refused the record for good (or its session was never created)."""
        self._settle(spool)
        spool.delivered(row.seq)
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if isinstance(record, SessionStart):
            self._on_created(row.session, None)
        log_fault(
            f"forwarder-refused-{reason}",
            f"the API refused a spooled record for good ({reason}); dropped "
            f"{self.dropped[reason]} so far, stats() counts them",
            level=logging.ERROR,
            note_repeats=False,
        )

    def _succeeded(self) -> None:
        self.delivered += 1
        self._failures = 0
        self.next_retry_at = None
        now = time.monotonic()
        recent = self._recent
        if recent and now - recent[-1][0] < 1.0:
            recent[-1] = (recent[-1][0], recent[-1][1] + 1)
        else:
            recent.append((now, 1))

    def _note_error(self, error: str) -> None:
        self.last_error = error
        self.last_error_at = time.time()

    def _back_off(self, spool: Spool) -> None:
        """Wait before the next try (the one retry policy's `SPOOL_FORWARDING` backoff);
        the status table says why and until when, meanwhile."""
        self._failures += 1
        self.retried += 1
        wait_s = SPOOL_FORWARDING.wait_s(min(self._failures - 1, 16)) or 0.0
        self.next_retry_at = time.time() + wait_s
        if self._failures == 1:
            self._write_status(spool, force=True)
            log_fault(
                "forwarder-paused",
                f"delivery paused ({self.last_error}); records wait in the spool "
                f"{self._path} and are tried again with backoff",
            )
        self._stop.wait(wait_s)

    def _check_backlog(self, spool: Spool, now: float) -> None:
        """Log once when the oldest pending record is older than the threshold (and once
        more after it was delivered and a backlog grows old again)."""
        if now - self._backlog_at < _BACKLOG_EVERY_S:
            return
        self._backlog_at = now
        backlog = spool.backlog()
        age = backlog["oldest_age_s"]
        if age is None or age < OLD_BACKLOG_S:
            self._backlog_logged = False
            return
        if not self._backlog_logged:
            self._backlog_logged = True
            log_fault(
                "spool-old-backlog",
                f"{backlog['records']} records of {backlog['sessions']} sessions wait in "
                f"the spool {self._path}, the oldest for {age:.0f} s (last error: "
                f"{self.last_error}); see `provenant spool status`",
                note_repeats=False,
            )

    def _write_status(self, spool: Spool, force: bool = False) -> None:
        now = time.monotonic()
        if not self.holder or (not force and now - self._status_at < _STATUS_EVERY_S):
            return
        self._status_at = now
        try:
            self._check_backlog(spool, now)
        except Exception as exc:
            log_fault("forwarder-status", "could not read the spool's backlog", exc)
        try:
            spool.write_status(
                {
                    "holder_pid": os.getpid(),
                    "heartbeat": time.time(),
                    "delivered": self.delivered,
                    "rate_per_s": round(self.rate(), 3),
                    "dropped": self.dropped,
                    "resent": self.resent,
                    "last_error": self.last_error,
                    "last_error_at": self.last_error_at,
                    "next_retry_at": self.next_retry_at,
                    "rate_limit": self._rate_limit_seen(),
                }
            )
        except Exception as exc:
            log_fault("forwarder-status", "could not write the spool's status", exc)
