"""
The SQLite store behind ``provenant serve`` and the embedded local backend.

One file holds the whole data model of the REST contract: orgs, users, API keys
(only a SHA-256 hash and the ``keyPrefix`` are kept), agents, sessions, turns, eval
suites, cases, runs, results, and the idempotency keys of writes::

    store = Store("/tmp/provenant.db")
    key, org_id = store.create_api_key()
    with store.write() as conn:
        conn.execute(...)
    store.close()

The database runs in WAL mode with ``synchronous=NORMAL``; connections come from a
small pool (any thread may use one), writes of this process are serialised by a lock
and run in one ``BEGIN IMMEDIATE`` transaction each, so a failed write leaves nothing
behind. Other processes on the same file wait on SQLite's busy timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
import threading
import time
import uuid
from typing import Any, Iterator, Optional

from provenant._wire import API_KEY_MARK, key_prefix
from provenant.server._session_index import ensure_session_index

__all__ = [
    "LOCAL_ORG_ID",
    "Store",
    "hash_key",
    "key_prefix",
    "new_id",
    "now_iso",
    "purge_idempotency",
]

#: The organisation every embedded (no-server) client records into. It has no built-in
#: key: the embedded client is that org in-process, and HTTP clients need a key created
#: for it (``Store.create_api_key(org_id=LOCAL_ORG_ID)``).
LOCAL_ORG_ID = "00000000-0000-4000-8000-000000000001"
_LOCAL_USER_ID = "00000000-0000-4000-8000-000000000002"
# The key every store of versions up to 0.1 registered for that org, the same string in
# every installation: removed from any store opened now, so no server accepts it.
_RETIRED_LOCAL_KEY = "pk_live_" + "10ca1" + "0" * 27

_POOL_SIZE = 16
_CACHE_KIB = 16 * 1024
# Readers get a small page cache: a write by anyone empties it anyway, and each
# concurrent reader of large records would otherwise keep 16 MB of pages.
_READER_CACHE_KIB = 2 * 1024
_CHECKPOINT_INTERVAL_SECONDS = 0.5
_FALLBACK_AUTOCHECKPOINT_PAGES = 20000
_SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    email TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    org_id TEXT NOT NULL REFERENCES orgs(id),
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS agents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT,
    tags TEXT NOT NULL,
    model_family TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (org_id, slug)
);
CREATE TABLE IF NOT EXISTS sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    agent_version_id TEXT,
    environment_id TEXT,
    external_id TEXT,
    user_id TEXT,
    metadata TEXT NOT NULL,
    tags TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    total_tokens INTEGER,
    total_latency_ms INTEGER,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_org ON sessions (org_id, started_at, seq);
-- No AUTOINCREMENT on turns (one page less per write): a new rowid is always above
-- every existing one, so a session's turns still sort by seq in creation order.
CREATE TABLE IF NOT EXISTS turns (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tool_calls TEXT NOT NULL,
    latency_ms INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL,
    content_json INTEGER
);
CREATE INDEX IF NOT EXISTS turns_session ON turns (session_id, seq);
CREATE TABLE IF NOT EXISTS eval_suites (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    tags TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS eval_cases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    suite_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    input TEXT NOT NULL,
    expected_output TEXT,
    scoring_fn TEXT NOT NULL,
    weight REAL NOT NULL,
    tags TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS eval_cases_suite ON eval_cases (suite_id, seq);
CREATE TABLE IF NOT EXISTS eval_runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    suite_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    agent_version_id TEXT,
    environment_id TEXT,
    status TEXT NOT NULL,
    pass_rate REAL,
    score REAL,
    metadata TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS eval_results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    actual_output TEXT,
    score REAL,
    passed INTEGER NOT NULL,
    latency_ms INTEGER,
    token_count INTEGER,
    error TEXT,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS eval_results_run ON eval_results (run_id, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    hash INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""
# Version 3: ``turns.content_json`` says whether a turn's content is JSON (1) or text (0);
# NULL in rows written before it (or by an older SDK on the same file), which answers
# read as clients always read them: content that parses as an object or array is JSON.
# Version 2: an idempotency record names the session it wrote (``object_id``), so
# deleting the session deletes its records; records are purged after their day.
_IDEMPOTENCY_INDEXES = """
CREATE INDEX IF NOT EXISTS idempotency_object ON idempotency (object_id)
    WHERE object_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
"""
_BACKFILL_OBJECT_IDS = (
    "UPDATE idempotency SET object_id = CASE"
    " WHEN path LIKE '/api/sessions/%'"
    " THEN substr(path, 15, instr(substr(path, 15) || '/', '/') - 1)"
    " WHEN path = '/api/sessions' AND method = 'POST' THEN json_extract(body, '$.id')"
    " END WHERE object_id IS NULL"
)


# (second, its formatted text), swapped as one object so threads never mix two seconds.
_second_text: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """The current UTC time as the contract writes it: ``2026-11-26T10:00:00.000Z``."""
    global _second_text
    second, millis = divmod(int(time.time() * 1000), 1000)
    cached = _second_text
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _second_text = cached
    return f"{cached[1]}.{millis:03d}Z"


def new_id() -> str:
    """A fresh UUID v4 string."""
    return str(uuid.uuid4())


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which an API key is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class Store:
    """
    The SQLite file of a local Provenant server, safe to share between threads.

    Args:
        db_path: The database file; its directory is created when missing.
        background_checkpoints: Move WAL checkpoints (which ``fsync``) off the request
            path into a daemon thread (the server does; an embedded client need not).

    .. versionadded:: 0.1
    """

    def __init__(self, db_path: str, *, background_checkpoints: bool = False) -> None:
        self.db_path = db_path
        self._background_checkpoints = background_checkpoints
        self._checkpointer: Optional[threading.Thread] = None
        self._stop_checkpoints = threading.Event()
        _create_private(db_path)
        self._pool: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._waiting = 0  # threads queued for the write lock
        self._incoming = 0  # requests that announced a write and have not reached it yet
        self._waiting_lock = threading.Lock()
        self._batch: Optional[_Batch] = None
        self._writer: Optional[sqlite3.Connection] = None
        self._closed = False
        #: Notified after every committed write (the SSE stream waits on it).
        self.changed = threading.Condition(threading.Lock())
        self.version = 0
        conn = self._connect(_CACHE_KIB)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            _migrate_idempotency(conn)
            _migrate_turns(conn)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except BaseException:
            self.close()
            raise
        self._writer = conn
        ensure_session_index(conn)
        self._ensure_local_org()
        if background_checkpoints:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="provenant-store-checkpoint", daemon=True
            )
            self._checkpointer.start()

    # -- connections ------------------------------------------------------------------

    def _connect(self, cache_kib: int = _READER_CACHE_KIB) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.db_path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute(f"PRAGMA cache_size=-{cache_kib}")
        if self._background_checkpoints:
            # Writers checkpoint (and fsync) only as a last resort; the thread does it.
            conn.execute(f"PRAGMA wal_autocheckpoint={_FALLBACK_AUTOCHECKPOINT_PAGES}")
        with self._pool_lock:
            self._all.append(conn)
        return conn

    def _acquire(self) -> sqlite3.Connection:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if self._pool:
                return self._pool.pop()
        return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._pool_lock:
            if not self._closed and len(self._pool) < _POOL_SIZE:
                self._pool.append(conn)
                return
            if conn in self._all:
                self._all.remove(conn)
        conn.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """
        Lend a connection for reads (autocommit; each statement sees committed data).

        .. versionadded:: 0.1
        """
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    def write(self, *, announced: bool = False) -> _WriteTransaction:
        """
        Run a block as one atomic write: all of it is committed, or none of it.

        Writes of concurrent threads are grouped: each block runs in its own savepoint
        (a failing block rolls back only itself), and one ``COMMIT`` covers the blocks
        that queued up meanwhile; every block returns only once its commit is done.
        On this machine a commit costs far more than the statements it covers, so
        grouping is what lets concurrent senders go past ~1,000 turns/s.

        Args:
            announced: This write was announced with :meth:`announce_write`.

        .. versionadded:: 0.1
        """
        return _WriteTransaction(self, announced)

    def announce_write(self) -> None:
        """
        Say a write is coming (a request is being parsed), so open groups wait for it.

        Follow it with ``write(announced=True)`` or :meth:`withdraw_write`.

        .. versionadded:: 0.1
        """
        with self._waiting_lock:
            self._incoming += 1

    def withdraw_write(self) -> None:
        """
        Take back an announced write that will not happen (e.g. the body was refused).

        .. versionadded:: 0.1
        """
        with self._waiting_lock:
            self._incoming -= 1
        self._commit_orphan(None)

    def _commit_orphan(self, only: Optional[_Batch]) -> None:
        """Commit an open group nobody else is going to commit (or ``only`` that one)."""
        with self._write_lock:
            batch = self._batch
            if batch is None or (only is not None and batch is not only):
                return
            if only is None and (self._waiting > 0 or self._incoming > 0):
                return  # someone queued or announced will commit it
            self._commit_batch(batch)
        self._notify()

    def _commit_batch(self, batch: _Batch) -> None:
        # Called with the write lock held.
        conn = self._writer
        try:
            if conn is not None:
                conn.execute("COMMIT")
        except BaseException as error:
            batch.error = error
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
        finally:
            self._batch = None
            batch.done.set()

    def _notify(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)
        try:
            seen = self.version
            while not self._stop_checkpoints.wait(_CHECKPOINT_INTERVAL_SECONDS):
                if self.version == seen:
                    continue
                seen = self.version
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def close(self) -> None:
        """
        Close every connection. Idempotent.

        .. versionadded:: 0.1
        """
        self._stop_checkpoints.set()
        checkpointer = self._checkpointer
        if checkpointer is not None and checkpointer is not threading.current_thread():
            checkpointer.join(timeout=10)
        with self._write_lock:
            batch, writer = self._batch, self._writer
            if batch is not None and writer is not None:
                # Writers queued behind the last one lost the race to us: commit for them.
                try:
                    writer.execute("COMMIT")
                except sqlite3.Error as error:
                    batch.error = error
                self._batch = None
                batch.done.set()
            with self._pool_lock:
                self._closed = True
                self._writer = None
                conns, self._all, self._pool = self._all, [], []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        with self.changed:
            self.changed.notify_all()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- orgs and keys ----------------------------------------------------------------

    def _ensure_local_org(self) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM api_keys WHERE key_hash = ?", (hash_key(_RETIRED_LOCAL_KEY),))
            if conn.execute("SELECT 1 FROM orgs WHERE id = ?", (LOCAL_ORG_ID,)).fetchone():
                return
            now = now_iso()
            conn.execute(
                "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)",
                (LOCAL_ORG_ID, "local", now),
            )
            conn.execute(
                "INSERT INTO users (id, org_id, email, created_at) VALUES (?, ?, ?, ?)",
                (_LOCAL_USER_ID, LOCAL_ORG_ID, "local@localhost", now),
            )

    @staticmethod
    def _insert_key(
        conn: sqlite3.Connection, key: str, org_id: str, user_id: str, name: str, now: str
    ) -> None:
        conn.execute(
            "INSERT INTO api_keys (id, user_id, org_id, key_hash, key_prefix, name, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new_id(), user_id, org_id, hash_key(key), key_prefix(key), name, now),
        )

    def create_api_key(
        self,
        org_name: Optional[str] = None,
        *,
        key: Optional[str] = None,
        org_id: Optional[str] = None,
    ) -> tuple[str, str]:
        """
        Register an API key and return it with its org id.

        Args:
            org_name: Put the key in the org of this name (created when missing);
                ``None`` (and no ``org_id``) creates a fresh org.
            key: The key to register (default: a new ``pk_live_`` + 32 hex key). A key
                already registered is left where it is.
            org_id: Put the key in this existing org (e.g. :data:`LOCAL_ORG_ID`).

        Returns:
            ``(key, org_id)``.

        .. versionadded:: 0.1
        """
        if key is None:
            key = API_KEY_MARK + secrets.token_hex(16)
        now = now_iso()
        with self.write() as conn:
            row = conn.execute(
                "SELECT org_id FROM api_keys WHERE key_hash = ?", (hash_key(key),)
            ).fetchone()
            if row is not None:
                return key, str(row[0])
            if org_id is None and org_name is not None:
                found = conn.execute(
                    "SELECT id FROM orgs WHERE name = ? ORDER BY created_at LIMIT 1", (org_name,)
                ).fetchone()
                org_id = str(found[0]) if found else None
            if org_id is None:
                org_id = new_id()
                name = org_name if org_name is not None else f"org-{org_id[:8]}"
                conn.execute(
                    "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)",
                    (org_id, name, now),
                )
            user = conn.execute(
                "SELECT id FROM users WHERE org_id = ? ORDER BY created_at LIMIT 1", (org_id,)
            ).fetchone()
            if user is None:
                if not conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)).fetchone():
                    conn.execute(
                        "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)",
                        (org_id, org_name or f"org-{org_id[:8]}", now),
                    )
                user_id = new_id()
                conn.execute(
                    "INSERT INTO users (id, org_id, email, created_at) VALUES (?, ?, ?, ?)",
                    (user_id, org_id, None, now),
                )
            else:
                user_id = str(user[0])
            self._insert_key(conn, key, org_id, user_id, "cli", now)
        return key, org_id

    def revoke_api_key(self, key: str) -> bool:
        """
        Revoke a key: servers on this file refuse it within a second.

        Returns:
            ``True`` when the key was registered and not yet revoked.

        .. versionadded:: 0.2
        """
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_hash = ? AND revoked_at IS NULL",
                (now_iso(), hash_key(key)),
            )
            return cursor.rowcount == 1

    def org_for_key(self, key: str) -> Optional[str]:
        """
        The org id of a valid (not revoked, not expired) key, or ``None``.

        .. versionadded:: 0.1
        """
        with self.read() as conn:
            row = conn.execute(
                "SELECT org_id, expires_at, revoked_at FROM api_keys WHERE key_hash = ?",
                (hash_key(key),),
            ).fetchone()
        if row is None or row[2] is not None:
            return None
        if row[1] is not None and str(row[1]) <= now_iso():
            return None
        return str(row[0])


def _migrate_idempotency(conn: sqlite3.Connection) -> None:
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(idempotency)")}
    if "object_id" not in columns:
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(idempotency)")}
            if "object_id" not in columns:  # another process may have just done it
                conn.execute("ALTER TABLE idempotency ADD COLUMN object_id TEXT")
                with contextlib.suppress(sqlite3.OperationalError):  # no JSON functions
                    conn.execute(_BACKFILL_OBJECT_IDS)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.executescript(_IDEMPOTENCY_INDEXES)


def _migrate_turns(conn: sqlite3.Connection) -> None:
    # Adding a nullable column rewrites no row, however large the file.
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(turns)")}
    if "content_json" in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(turns)")}
        if "content_json" not in columns:  # another process may have just done it
            conn.execute("ALTER TABLE turns ADD COLUMN content_json INTEGER")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def purge_idempotency(conn: sqlite3.Connection, *, older_than: float, limit: int = 5000) -> int:
    """
    Delete up to ``limit`` idempotency records written before ``older_than`` (Unix time).

    Bounded, so a store reopened after days pays its backlog off over several writes
    instead of one slow transaction.

    Returns:
        How many were deleted.
    """
    cursor = conn.execute(
        "DELETE FROM idempotency WHERE hash IN"
        " (SELECT hash FROM idempotency WHERE created_at < ? LIMIT ?)",
        (older_than, limit),
    )
    return cursor.rowcount


def _create_private(db_path: str) -> None:
    """Create a missing store readable by its user only: folders 0700, the file 0600.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's permissions.
    Existing folders and files are left as they are.
    """
    if db_path == ":memory:" or db_path.startswith("file:"):
        return
    directory = os.path.dirname(os.path.abspath(db_path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        fd = os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class _Batch:
    """The jobs sharing one open write transaction, and the event of its commit."""

    __slots__ = ("done", "error", "size")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: Optional[BaseException] = None
        self.size = 0


_MAX_BATCH = 64
_GROUP_WAIT_SECONDS = 0.05


class _WriteTransaction:
    """Context manager of :meth:`Store.write` (see there)."""

    __slots__ = ("_announced", "_batch", "_first", "_store")

    def __init__(self, store: Store, announced: bool) -> None:
        self._store = store
        self._announced = announced
        self._batch: Optional[_Batch] = None
        # The job that opens a transaction needs no savepoint: if it fails, nothing
        # else is in the transaction yet, and a plain ROLLBACK undoes it.
        self._first = False

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        with store._waiting_lock:
            store._waiting += 1
            if self._announced:
                store._incoming -= 1
        store._write_lock.acquire()
        with store._waiting_lock:
            store._waiting -= 1
        try:
            conn = store._writer
            if conn is None:
                raise RuntimeError("the store is closed")
            batch = store._batch
            if batch is None:
                conn.execute("BEGIN IMMEDIATE")
                batch = store._batch = _Batch()
                self._first = True
            batch.size += 1
            self._batch = batch
            if not self._first:
                conn.execute("SAVEPOINT job")
        except BaseException:
            if self._batch is not None:
                self._finish(failed=True)
            else:
                store._write_lock.release()
            raise
        return conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn = self._store._writer
        assert conn is not None
        failed = exc_type is not None
        try:
            if self._first:
                if failed:
                    self._abandon(conn)
                    return
            else:
                if failed:
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
        except BaseException:
            failed = True
            raise
        finally:
            if self._batch is not None:
                self._finish(failed)

    def _abandon(self, conn: sqlite3.Connection) -> None:
        store = self._store
        batch = self._batch
        assert batch is not None
        self._batch = None
        try:
            conn.execute("ROLLBACK")
        finally:
            store._batch = None
            batch.done.set()
            store._write_lock.release()

    def _finish(self, failed: bool) -> None:
        store = self._store
        batch = self._batch
        assert batch is not None
        if (store._waiting > 0 or store._incoming > 0) and batch.size < _MAX_BATCH:
            # More writes are on their way: let them into the same transaction; the
            # last writer of the group commits for everyone.
            store._write_lock.release()
            if failed:
                return
            if not batch.done.wait(_GROUP_WAIT_SECONDS):
                store._commit_orphan(batch)  # whoever we waited for never came
                batch.done.wait()
            if batch.error is not None:
                raise batch.error
            return
        try:
            store._commit_batch(batch)
        finally:
            store._write_lock.release()
        store._notify()
        if batch.error is not None and not failed:
            raise batch.error
