"""
The REST API's exporter when a spool is available: batches to local disk first.

::

    exporter = SpoolExporter(settings, agents, new_key, path)
    exporter.export(records)    # one SQLite transaction; the forwarder sends them later
    exporter.flush(timeout=5)   # True when this process's records reached the API
    exporter.stats()            # {"spool": {backlog, rate, last error, next retry, ...}}

The batch processor's worker calls :meth:`export`: each batch is appended to the spool
(:mod:`provenant.backends._spool`) in one transaction, with each record's
``Idempotency-Key`` chosen now, and the forwarder (:mod:`provenant.backends._forwarder`)
is woken. A session's server id is not known when its create is spooled: the processor
hands :meth:`watch_create` the session's callback, told when the forwarder (of this
process, or of another one sharing the spool) has it.

The spool has a size cap (``spool_max_bytes``): records that do not fit are dropped,
counted as ``spool_full`` (with the later records of their sessions), and logged once
a minute; what is already spooled is never dropped for it.
"""

from __future__ import annotations

import collections
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from provenant._logging import log_fault
from provenant.backends._agents import AgentDirectory
from provenant.backends._forwarder import Forwarder, ObservedTransport
from provenant.backends._http_exporter import HttpExporter
from provenant.backends._pacing import Pacer
from provenant.backends._records import ExportResult, Record, SessionEnd
from provenant.backends._spool import Spool, encode_record, spool_path
from provenant.backends._transport import HttpClientTransport
from provenant.backends.http import HttpBackend
from provenant.config import Settings

__all__ = ["SpoolExporter", "make_http_exporter", "spool_file"]

_WRITE_ATTEMPTS = 3
_FLUSH_POLL_S = 0.02
# Sessions whose create waits for an id at most (the oldest are told "unknown" past it).
_MAX_WATCHED = 10_000

_watch_lock = threading.Lock()
_watchers: collections.OrderedDict[str, Callable[[Optional[str]], None]] = collections.OrderedDict()


def _settle_created(key: str, server_id: Optional[str]) -> None:
    """A spooled create was settled (by any forwarder): tell the session waiting for it."""
    with _watch_lock:
        callback = _watchers.pop(key, None)
    if callback is not None:
        callback(server_id)


def _watched_keys() -> List[str]:
    with _watch_lock:
        return list(_watchers)


def _fresh_watchers_in_child() -> None:
    global _watch_lock
    _watch_lock = threading.Lock()
    _watchers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_watchers_in_child)


_fallback_logged = False


def spool_file(settings: Settings) -> Optional[str]:
    """
    The spool file of the settings' API, its directory made (owner only); ``None``
    (said once in the log) when no writable directory exists, e.g. a read-only file
    system: records are then held in memory, as without a spool.
    """
    global _fallback_logged
    dest = settings.destination
    assert dest.url is not None
    try:
        path = spool_path(dest.url, settings.api_key)
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not os.access(directory, os.W_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)
        ):
            raise PermissionError(f"{directory} is not writable")
    except OSError as exc:
        if not _fallback_logged:
            _fallback_logged = True
            log_fault(
                "spool-unavailable",
                f"no spool can be written ({exc}); records wait in memory until they are "
                "delivered, and are lost if the process dies first. Set PROVENANT_SPOOL_DIR "
                "to a writable directory to keep them on disk",
                level=logging.WARNING,
            )
        return None
    return path


def make_http_exporter(
    settings: Settings,
    agents: AgentDirectory,
    new_key: Callable[[], str],
    *,
    max_attempts: Optional[int] = None,
) -> Tuple[HttpExporter, ObservedTransport, HttpBackend]:
    """An :class:`HttpExporter` for the settings' API over an observed transport."""
    dest = settings.destination
    assert dest.url is not None
    parts = urllib.parse.urlsplit(dest.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    transport = ObservedTransport(
        HttpClientTransport(
            parts.scheme, parts.hostname or "", port, timeout_s=float(settings.timeout)
        )
    )
    backend = HttpBackend(
        dest.url, api_key=settings.api_key, timeout=settings.timeout, transport=transport
    )
    exporter = HttpExporter(
        backend,
        agents,
        max_attempts=settings.max_delivery_attempts if max_attempts is None else max_attempts,
        key_prefix=settings.key_prefix,
        new_key=new_key,
        destination=dest.describe(),
    )
    return exporter, transport, backend


class SpoolExporter:
    """
    :class:`~provenant.backends._records.Exporter` into a spool file, delivered to the
    API by a :class:`~provenant.backends._forwarder.Forwarder`.

    Args:
        settings: The client's settings (the API's URL and key, timeouts, the cap).
        new_key: Makes each record's ``Idempotency-Key``.
        path: The spool file.
        max_bytes: The size cap of the spool.
    """

    #: Writes are short and local: the processor keeps its fork gate meanwhile.
    network = False
    #: How long a worker lets events gather before it writes them (one transaction).
    batch_interval_s = 0.05

    def __init__(
        self, settings: Settings, new_key: Callable[[], str], path: str, max_bytes: int
    ) -> None:
        self.path = path
        self._settings = settings
        self._new_key = new_key
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._reset()
        if os.path.exists(path):
            # Records a dead process left: deliver them now, not at our first record.
            self._start_forwarder()

    def _reset(self) -> None:
        """Start afresh: at construction and in a forked child (no thread, no file)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        # Names this process's sessions in a spool other processes share; a forked
        # child's starts with its parent's, so the parent's flush() waits for its
        # children's records too (a pool's workers).
        parent = getattr(self, "_token", "")
        self._token = f"{parent}{uuid.uuid4().hex[:8]}."
        self._spool: Optional[Spool] = None
        self._reader: Optional[Spool] = None
        self._forwarder: Optional[Forwarder] = None
        self._last_forwarder: Optional[Forwarder] = None  # its rate limit, after shutdown
        self._full_sessions: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._full = 0
        self._errors = 0
        # What stopped forwarders counted (stats() after shutdown still says it).
        self._retired_retries = 0
        self._retired_delivered = 0
        self._retired_drops: Dict[str, int] = {}

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    def _start_forwarder(self) -> Forwarder:
        with self._lock:
            forwarder = self._forwarder
            if forwarder is None:
                settings = self._settings

                def make(
                    keys: Callable[[], str], agents: AgentDirectory
                ) -> Tuple[HttpExporter, ObservedTransport, HttpBackend]:
                    # Short tries here: the forwarder itself tries again for ever.
                    return make_http_exporter(
                        settings, agents, keys, max_attempts=min(3, settings.max_delivery_attempts)
                    )

                forwarder = Forwarder(
                    self.path, make, self._new_key, _settle_created, _watched_keys
                )
                forwarder.start()
                self._forwarder = forwarder
            return forwarder

    # -- the exporter seam ------------------------------------------------------------

    def export(self, records: Sequence[Record]) -> ExportResult:
        """Append ``records`` to the spool in one transaction; see :class:`ExportResult`."""
        self._check_pid()
        outcomes: List[Optional[str]] = [None] * len(records)
        rows: List[Tuple[str, str, str, str]] = []
        places: List[int] = []
        token = self._token
        for index, record in enumerate(records):
            if record.key in self._full_sessions:
                outcomes[index] = "spool_full"
                continue
            try:
                kind, body = encode_record(record)
            except Exception as exc:  # a value json cannot write: a bug of ours
                log_fault("spool-encode", "could not write a record to the spool", exc)
                outcomes[index] = "internal_error"
                continue
            rows.append((f"{token}/{record.key}", kind, body, self._new_key()))
            places.append(index)
        stored = self._append(rows, outcomes, places)
        if stored < len(rows):
            self._count_full(records, places[stored:], outcomes)
        for record in records:
            if isinstance(record, SessionEnd):
                self._full_sessions.pop(record.key, None)
        if stored:
            self._start_forwarder().wake()
        return ExportResult(outcomes, {})

    def _append(
        self,
        rows: List[Tuple[str, str, str, str]],
        outcomes: List[Optional[str]],
        places: List[int],
    ) -> int:
        if not rows:
            return 0
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                spool = self._spool
                if spool is None:
                    spool = self._spool = Spool(self.path)
                return spool.append(rows, self._token, self._max_bytes)
            except (sqlite3.Error, OSError) as exc:
                if attempt + 1 < _WRITE_ATTEMPTS:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                self._errors += len(rows)
                log_fault(
                    "spool-write",
                    f"could not write {len(rows)} records to the spool {self.path}; dropped",
                    exc,
                    level=logging.ERROR,
                )
                for index in places:
                    outcomes[index] = "spool_error"
        return len(rows)

    def _count_full(
        self, records: Sequence[Record], places: List[int], outcomes: List[Optional[str]]
    ) -> None:
        """Records past the cap are dropped, and the rest of their sessions with them."""
        for index in places:
            outcomes[index] = "spool_full"
            self._full_sessions[records[index].key] = None
        while len(self._full_sessions) > _MAX_WATCHED:
            self._full_sessions.popitem(last=False)
        self._full += len(places)
        log_fault(
            "spool-full",
            f"the spool {self.path} is full (spool_max_bytes={self._max_bytes}); new "
            f"records are dropped ({self._full} so far) until the API takes the backlog",
            level=logging.ERROR,
            note_repeats=False,
        )

    def watch_create(self, key: str, callback: Callable[[Optional[str]], None]) -> None:
        """Call ``callback(server_id)`` once the spooled create of ``key`` is settled."""
        told: List[Callable[[Optional[str]], None]] = []
        with _watch_lock:
            _watchers[f"{self._token}/{key}"] = callback
            while len(_watchers) > _MAX_WATCHED:
                told.append(_watchers.popitem(last=False)[1])
        for other in told:
            other(None)

    def read(self, path: str) -> Any:
        """``GET`` one route of the API, once (a resumed session's turns)."""
        forwarder = self._start_forwarder()
        return forwarder._backend.request("GET", path, retries=0)

    def interrupt(self) -> None:
        """Nothing waits in :meth:`export`; the forwarder stops at :meth:`shutdown`."""

    def shutdown(self) -> None:
        """Stop the forwarder (what is pending stays spooled) and close the files."""
        self._check_pid()
        forwarder, self._forwarder = self._forwarder, None
        self._last_forwarder = forwarder or self._last_forwarder
        if forwarder is not None:
            forwarder.stop()
            self._retired_retries += forwarder._transport.failures
            self._retired_delivered += forwarder.delivered
            for reason, count in forwarder.dropped.items():
                self._retired_drops[reason] = self._retired_drops.get(reason, 0) + count
        for spool in (self._spool, self._reader):
            if spool is not None:
                spool.close()
        self._spool = self._reader = None

    # -- flush and numbers -------------------------------------------------------------

    def _read_spool(self) -> Spool:
        with self._lock:
            reader = self._reader
            if reader is None:
                reader = self._reader = Spool(self.path)
            return reader

    def flush(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the records this process (and the children
        it forked) spooled reached the API (or were refused); True when none is left."""
        self._check_pid()
        if self._spool is None and not os.path.exists(self.path):
            return True  # nothing spooled by this process
        deadline = time.monotonic() + timeout
        try:
            reader = self._read_spool()
            if not reader.pending_count(self._token):
                return True
            self._start_forwarder().wake()
            while reader.pending_count(self._token):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_FLUSH_POLL_S)
        except (sqlite3.Error, OSError) as exc:
            log_fault("spool-read", "could not read the spool", exc)
            return False
        return True

    @property
    def rate_limit(self) -> Any:
        """The rate limit the API last announced to this process's forwarder (nothing
        seen before it started): ``stats()["rate_limit"]``."""
        forwarder = self._forwarder or self._last_forwarder
        if forwarder is None:  # nothing sent yet: nothing seen
            return Pacer().snapshot()
        return forwarder.rate_limit

    def stats(self) -> Dict[str, Any]:
        """The spool's numbers (``stats()["spool"]``) and the forwarder's drops."""
        self._check_pid()
        numbers: Dict[str, Any] = {"path": self.path, "max_bytes": self._max_bytes}
        dropped: Dict[str, int] = dict(self._retired_drops)
        try:
            reader = self._read_spool()
            numbers.update(reader.backlog())
            numbers["pending_here"] = reader.pending_count(self._token)
            status = reader.read_status()
        except (sqlite3.Error, OSError) as exc:
            log_fault("spool-read", "could not read the spool", exc)
            status = {}
        forwarder = self._forwarder
        mine = forwarder is not None and forwarder.holder
        numbers["forwarding_here"] = mine
        if forwarder is not None and mine:
            numbers.update(
                delivered=forwarder.delivered,
                rate_per_s=round(forwarder.rate(), 3),
                last_error=forwarder.last_error,
                next_retry_at=forwarder.next_retry_at,
                rate_limit=forwarder._rate_limit_seen(),
                resent=forwarder.resent,
            )
            for reason, count in forwarder.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
        else:
            for name in ("delivered", "rate_per_s", "last_error", "next_retry_at", "rate_limit"):
                numbers[name] = status.get(name)
            numbers["resent"] = status.get("resent", 0)
        retried = self._retired_retries + (
            forwarder._transport.failures if forwarder is not None else 0
        )
        delivered = self._retired_delivered + (forwarder.delivered if forwarder is not None else 0)
        return {"spool": numbers, "dropped": dropped, "retried": retried, "delivered": delivered}


def spool_status(settings: Settings) -> Dict[str, Any]:
    """
    The spool of the settings' API as ``provenant spool status`` prints it: the backlog
    (``records``, ``sessions``, ``oldest_age_s``), what its forwarder last wrote (rate,
    limit last seen, last error, next retry) and whether a forwarder runs now.
    """
    dest = settings.destination
    assert dest.url is not None
    path = spool_path(dest.url, settings.api_key)
    numbers: Dict[str, Any] = {"path": path, "exists": os.path.exists(path)}
    if not numbers["exists"]:
        numbers.update(records=0, sessions=0, oldest_age_s=None, forwarder_running=False)
        return numbers
    spool = Spool(path)
    try:
        numbers.update(spool.backlog())
        numbers.update(spool.read_status())
    finally:
        spool.close()
    numbers["forwarder_running"] = _lock_held(path)
    return numbers


def _lock_held(path: str) -> bool:
    """Whether a process holds the spool's forwarder lock now."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def drain_spool(
    settings: Settings, timeout: float, new_key: Callable[[], str]
) -> Tuple[int, Dict[str, Any]]:
    """
    Deliver what waits in the spool of the settings' API (this process's forwarder, or
    the one another process runs); return the records left after ``timeout`` seconds
    and the spool's status.
    """
    dest = settings.destination
    assert dest.url is not None
    path = spool_path(dest.url, settings.api_key)
    if not os.path.exists(path):
        return 0, spool_status(settings)
    exporter = SpoolExporter(settings, new_key, path, settings.spool_max_bytes)
    deadline = time.monotonic() + timeout
    try:
        reader = exporter._read_spool()
        left = reader.pending_count()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = reader.pending_count()
    finally:
        exporter.shutdown()
    return left, spool_status(settings)
