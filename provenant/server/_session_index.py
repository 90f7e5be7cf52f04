"""
What keeps ``GET /api/sessions`` quick on a large store: summary columns, indexes and a
full-text index of turn content, all maintained by SQLite triggers.

``ensure_session_index(conn)`` runs when a :class:`~provenant.server._store.Store` opens
a file: a new file gets everything at once; a file written by an older version gets the
columns added and filled, and the full-text index built, in one transaction.

- ``sessions.n_turns``, ``sum_input_tokens``, ``sum_output_tokens``: kept by triggers on
  ``turns``, so the list shows and sorts by them without reading any turn.
- ``turns_fts``: an FTS5 trigram index over ``turns.content`` (external content, so the
  text is not stored twice), filled in batches off the request path by the thread of
  :mod:`provenant.server._search_indexer`. It narrows a ``q`` search to candidate turns,
  which the query then checks with the contract's exact substring test.
- Indexes for the list's filters and sorts, each ending in the default order (newest
  first). They change only when a session starts or ends, never per turn: sorting by
  turns or tokens (which change with every turn) reads the org's sessions instead, since
  three more indexes kept per turn cost the server about a quarter of its turns/s.

The summaries and the index's deletions are done by triggers, so every writer (this
version's server, the embedded store, an older version of the SDK on the same file)
keeps them right.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

_BATCH_TURNS = 1000

__all__ = ["ensure_session_index", "fts_available", "index_pending_turns"]

_SUMMARY_COLUMNS = ("n_turns", "sum_input_tokens", "sum_output_tokens")

_INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_org_agent ON sessions (org_id, agent_id, started_at, seq);
CREATE INDEX IF NOT EXISTS sessions_org_status ON sessions (org_id, status, started_at, seq);
CREATE INDEX IF NOT EXISTS sessions_org_user ON sessions (org_id, user_id, started_at, seq);
CREATE INDEX IF NOT EXISTS sessions_org_external
    ON sessions (org_id, external_id, started_at, seq);
CREATE INDEX IF NOT EXISTS sessions_org_ended ON sessions (org_id, ended_at, started_at, seq);
CREATE INDEX IF NOT EXISTS sessions_org_total ON sessions (org_id, total_tokens, started_at, seq);
CREATE INDEX IF NOT EXISTS sessions_org_duration
    ON sessions (org_id, (julianday(ended_at) - julianday(started_at)), started_at, seq);
CREATE INDEX IF NOT EXISTS sessions_org_parent
    ON sessions (org_id, CASE WHEN json_valid(metadata)
        THEN json_extract(metadata, '$.parentSessionId') END);
"""

_SUMMARY_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS turns_summary_insert AFTER INSERT ON turns BEGIN
    UPDATE sessions SET n_turns = n_turns + 1,
        sum_input_tokens = sum_input_tokens + COALESCE(new.input_tokens, 0),
        sum_output_tokens = sum_output_tokens + COALESCE(new.output_tokens, 0)
    WHERE id = new.session_id;
END;
CREATE TRIGGER IF NOT EXISTS turns_summary_delete AFTER DELETE ON turns BEGIN
    UPDATE sessions SET n_turns = n_turns - 1,
        sum_input_tokens = sum_input_tokens - COALESCE(old.input_tokens, 0),
        sum_output_tokens = sum_output_tokens - COALESCE(old.output_tokens, 0)
    WHERE id = old.session_id;
END;
"""

# The full-text index is filled in the background (``SearchIndexer``), never by the write
# of a turn: indexing as part of each insert halved the server's turns/s (measured here).
# ``indexed_seq`` is the highest turn seq indexed; searches scan the turns above it.
# Turns are never updated, only deleted (with their session): a deleted turn that was
# indexed leaves the index, and the mark drops to the highest remaining seq, since SQLite
# gives the next turn MAX(seq) + 1 again.
_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS turns_fts USING fts5(
    content, content='turns', content_rowid='seq', tokenize='trigram', detail='none',
    columnsize=0
);
CREATE TABLE IF NOT EXISTS turns_fts_state (id INTEGER PRIMARY KEY, indexed_seq INTEGER NOT NULL);
INSERT OR IGNORE INTO turns_fts_state (id, indexed_seq) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS turns_fts_delete AFTER DELETE ON turns BEGIN
    INSERT INTO turns_fts (turns_fts, rowid, content) SELECT 'delete', old.seq, old.content
    WHERE old.seq <= (SELECT indexed_seq FROM turns_fts_state WHERE id = 1);
    UPDATE turns_fts_state SET indexed_seq = COALESCE((SELECT MAX(seq) FROM turns), 0)
    WHERE id = 1 AND indexed_seq > COALESCE((SELECT MAX(seq) FROM turns), 0);
END;
"""


def fts_available(conn: sqlite3.Connection) -> bool:
    """Whether the file has the full-text index (SQLite built with FTS5 and trigram)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'turns_fts'"
    ).fetchone()
    return row is not None


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def ensure_session_index(conn: sqlite3.Connection) -> None:
    """
    Add what the session list needs to the file behind ``conn`` when it is missing.

    Runs in its own ``BEGIN IMMEDIATE`` transaction (another process opening the same
    file at once waits, then finds the work done). A SQLite without FTS5's trigram
    tokenizer (older than 3.34) gets everything but the full-text index; searches then
    scan the turns, as before.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        missing = [c for c in _SUMMARY_COLUMNS if c not in _columns(conn, "sessions")]
        for column in missing:
            conn.execute(f"ALTER TABLE sessions ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
        if missing:
            conn.execute(
                "UPDATE sessions SET (n_turns, sum_input_tokens, sum_output_tokens) = ("
                " SELECT COUNT(*), TOTAL(COALESCE(t.input_tokens, 0)),"
                " TOTAL(COALESCE(t.output_tokens, 0))"
                " FROM turns t WHERE t.session_id = sessions.id)"
            )
        for statement in _split(_INDEXES + _SUMMARY_TRIGGERS):
            conn.execute(statement)
        if not fts_available(conn):
            try:
                for statement in _split(_FTS):
                    conn.execute(statement)
            except sqlite3.OperationalError:
                pass  # no FTS5 or no trigram tokenizer here: searches scan the turns
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _split(script: str) -> list[str]:
    """Statements of a script (triggers hold ``;`` inside ``BEGIN ... END``)."""
    out: list[str] = []
    current = ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out


def index_pending_turns(conn: sqlite3.Connection, max_turns: int = _BATCH_TURNS) -> int:
    """
    Add up to ``max_turns`` not yet indexed turns to the full-text index (inside the
    caller's write transaction); returns how many were added.
    """
    if not fts_available(conn):
        return 0
    mark = int(conn.execute("SELECT indexed_seq FROM turns_fts_state WHERE id = 1").fetchone()[0])
    top = conn.execute(
        "SELECT MAX(seq) FROM (SELECT seq FROM turns WHERE seq > ? ORDER BY seq LIMIT ?)",
        (mark, max_turns),
    ).fetchone()[0]
    if top is None:
        return 0
    cursor = conn.execute(
        "INSERT INTO turns_fts (rowid, content) SELECT seq, content FROM turns"
        " WHERE seq > ? AND seq <= ?",
        (mark, top),
    )
    conn.execute("UPDATE turns_fts_state SET indexed_seq = ? WHERE id = 1", (top,))
    return int(cursor.rowcount)
