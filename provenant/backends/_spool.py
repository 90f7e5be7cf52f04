"""
The spool: records waiting on local disk for delivery to a REST API (SQLite, WAL).

::

    spool = Spool(spool_path(settings))        # one file per API URL and key
    spool.append([(record, idempotency_key), ...], origin)   # one transaction
    for row in spool.pending(after_seq=0, limit=256):         # oldest first
        ...
    spool.delivered(row.seq, created=("proc/k1", "srv-id"))   # the row is deleted
    spool.backlog()                            # records, sessions, oldest age

A record is stored as JSON of its fields (lossless for what recording makes: JSON
values, lone surrogates kept by ``ensure_ascii``) with the ``Idempotency-Key`` it will
carry on every try, chosen when it is spooled, so a redelivery after a crash repeats
the same key. Sessions are named by a key unique on the host (the recording process's
token, then the session's key); the ``sessions`` table maps it to the server's id once
the create was accepted, so a forwarder in another process can send the turns of a
session a dead process created. The ``status`` table holds what the forwarder last saw
(``provenant spool status`` reads it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from provenant.backends._records import Record, SessionEnd, SessionStart, TurnRecord

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Spool",
    "SpoolRow",
    "decode_record",
    "encode_record",
    "spool_dir",
    "spool_path",
]

#: The spool's default size cap (bytes of records held); ``PROVENANT_SPOOL_MAX_BYTES``.
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    idem TEXT NOT NULL,
    origin TEXT NOT NULL,
    created REAL NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_origin ON records (origin);
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,
    server_id TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS status (
    name TEXT PRIMARY KEY,
    value TEXT
);
"""

# A delivered session's mapping is kept this long (a late turn, a child naming it).
_SESSION_KEEP_S = 7 * 24 * 3600.0
_KINDS = {"start": SessionStart, "turn": TurnRecord, "end": SessionEnd}


def spool_dir() -> str:
    """
    The directory of spool files: ``PROVENANT_SPOOL_DIR``, else the user's state
    directory (``$XDG_STATE_HOME/provenant/spool``, ``~/.local/state/...``; on macOS
    ``~/Library/Application Support/provenant/spool``; on Windows ``%LOCALAPPDATA%``).
    """
    configured = os.environ.get("PROVENANT_SPOOL_DIR")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    if sys.platform == "win32":  # pragma: no cover - not run on CI
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
    elif sys.platform == "darwin":  # pragma: no cover - not run on CI
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "provenant", "spool")


def spool_path(url: str, api_key: Optional[str], directory: Optional[str] = None) -> str:
    """
    The spool file of one destination: processes sending to the same URL with the same
    key share it (and its one forwarder). The name is a hash: it never shows the key.
    """
    digest = hashlib.sha256(f"{url.rstrip('/')}\n{api_key or ''}".encode()).hexdigest()
    return os.path.join(directory or spool_dir(), f"{digest[:24]}.sqlite")


def encode_record(record: Record) -> Tuple[str, str]:
    """``(kind, body)`` of a record: its fields as JSON (see the module's docstring)."""
    if isinstance(record, TurnRecord):
        kind = "turn"
    elif isinstance(record, SessionEnd):
        kind = "end"
    else:
        kind = "start"
    fields = {name: getattr(record, name) for name in type(record).__slots__}
    return kind, json.dumps(fields, ensure_ascii=True, separators=(",", ":"), default=repr)


def decode_record(kind: str, body: str) -> Record:
    """The record :func:`encode_record` stored."""
    fields: Dict[str, Any] = json.loads(body)
    key = fields.pop("key")
    record: Record = _KINDS[kind](key, **fields)
    return record


class SpoolRow:
    """One pending record as stored: its place, session, kind, body and key."""

    __slots__ = ("body", "created", "idem", "kind", "seq", "session", "tries")

    def __init__(
        self, seq: int, session: str, kind: str, body: str, idem: str, created: float, tries: int
    ) -> None:
        self.seq = seq
        self.session = session
        self.kind = kind
        self.body = body
        self.idem = idem
        self.created = created
        self.tries = tries


class Spool:
    """
    One spool file: every method opens nothing new (one connection, made at
    construction) and holds no lock of ours; SQLite serialises writers across
    processes (``busy_timeout``).

    Args:
        path: The file (its directory is created when missing).

    Raises:
        sqlite3.Error, OSError: The file cannot be created or opened.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives the process being killed (it is in the
            # OS's cache); only a power loss may lose the last commits (never corrupts).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the connection (a forked child leaves its parent's alone)."""
        if self._pid == os.getpid():
            self._conn.close()

    # -- writing ------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes of the file in use (pages not on the free list)."""
        conn = self._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def append(
        self,
        rows: Sequence[Tuple[str, str, str, str]],
        origin: str,
        max_bytes: Optional[int] = None,
    ) -> int:
        """
        Store ``rows`` (session, kind, body, idempotency key) in one transaction; return
        how many of them were stored: the first ones that fit under ``max_bytes`` (the
        others are left to the caller to count as dropped).
        """
        if not rows:
            return 0
        conn = self._conn
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            count = len(rows)
            if max_bytes is not None:
                room = max_bytes - self.used_bytes()
                count = 0
                for session, _kind, body, idem in rows:
                    room -= len(body) + len(session) + len(idem) + 64
                    if room < 0:
                        break
                    count += 1
            conn.executemany(
                "INSERT INTO records (session, kind, body, idem, origin, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(s, k, b, i, origin, now) for s, k, b, i in rows[:count]],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return count

    # -- reading and delivering ---------------------------------------------------

    def pending(self, after_seq: int = 0, limit: int = 256) -> List[SpoolRow]:
        """Up to ``limit`` pending records after ``after_seq``, oldest first."""
        cursor = self._conn.execute(
            "SELECT seq, session, kind, body, idem, created, tries FROM records "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [SpoolRow(*row) for row in cursor.fetchall()]

    def mark_try(self, seq: int) -> None:
        """Count a try of the record (one in flight when a forwarder dies has ``tries``)."""
        self._conn.execute("UPDATE records SET tries = tries + 1 WHERE seq = ?", (seq,))

    def delivered(
        self,
        seq: int,
        created: Optional[Tuple[str, str]] = None,
        then_try: Optional[int] = None,
    ) -> None:
        """
        Delete a delivered (or refused) record; ``created``: (session key, server id).

        ``then_try``: in the same transaction, count a try of the next record (the
        forwarder settles one record and announces the next with one commit).
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM records WHERE seq = ?", (seq,))
            if created is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO sessions (key, server_id, created) VALUES (?, ?, ?)",
                    (created[0], created[1], time.time()),
                )
            if then_try is not None:
                conn.execute("UPDATE records SET tries = tries + 1 WHERE seq = ?", (then_try,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def session_id(self, key: str) -> Optional[str]:
        """The server's id of a session key, once its create was accepted."""
        row = self._conn.execute("SELECT server_id FROM sessions WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def session_ids(self, keys: Iterable[str]) -> Dict[str, str]:
        """The server ids known for ``keys``."""
        found: Dict[str, str] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, server_id in self._conn.execute(
                f"SELECT key, server_id FROM sessions WHERE key IN ({marks})", chunk
            ):
                found[str(key)] = str(server_id)
        return found

    def forget_old_sessions(self) -> None:
        """Drop session mappings older than a week (nothing pending names them)."""
        self._conn.execute(
            "DELETE FROM sessions WHERE created < ? AND key NOT IN "
            "(SELECT DISTINCT session FROM records)",
            (time.time() - _SESSION_KEEP_S,),
        )

    # -- numbers ------------------------------------------------------------------

    def backlog(self, origin: Optional[str] = None) -> Dict[str, Any]:
        """``records``, ``sessions`` and ``oldest_age_s`` of what is pending (of one origin)."""
        where, args = ("WHERE origin = ?", (origin,)) if origin is not None else ("", ())
        records, sessions, oldest = self._conn.execute(
            f"SELECT count(*), count(DISTINCT session), min(created) FROM records {where}", args
        ).fetchone()
        age = None if oldest is None else max(0.0, time.time() - float(oldest))
        return {"records": int(records), "sessions": int(sessions), "oldest_age_s": age}

    def pending_count(self, origin: Optional[str] = None) -> int:
        """How many records are pending (of one origin)."""
        if origin is None:
            return int(self._conn.execute("SELECT count(*) FROM records").fetchone()[0])
        return int(
            self._conn.execute(
                "SELECT count(*) FROM records WHERE origin = ?", (origin,)
            ).fetchone()[0]
        )

    def resent_count(self) -> int:
        """Pending records already tried (one in flight when its forwarder died, say)."""
        return int(self._conn.execute("SELECT count(*) FROM records WHERE tries > 0").fetchone()[0])

    def write_status(self, values: Dict[str, Any]) -> None:
        """Store the forwarder's numbers (JSON values) in one transaction."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO status (name, value) VALUES (?, ?)",
                [(name, json.dumps(value)) for name, value in values.items()],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def read_status(self) -> Dict[str, Any]:
        """The forwarder's numbers as last written."""
        return {
            str(name): json.loads(value)
            for name, value in self._conn.execute("SELECT name, value FROM status")
        }
