"""
Many session writes in one transaction: how the embedded exporter writes a batch.

::

    ids: dict[str, str] = {}                       # the caller's session keys -> ids
    outcomes = write_batch(store, org_id, [
        SessionWrite("createSession", "k1", {"agentId": agent_id, "externalId": "x"}),
        SessionWrite("addTurn", "k1", {"role": "USER", "content": "hi"}),
        SessionWrite("endSession", "k1", {"status": "COMPLETED"}),
    ], ids)
    outcomes  # [(201, "<session id>"), (201, None), (200, None)]

Each write is checked against the same body schema as ``POST /api/sessions``,
``/turns`` and ``/end`` (a quick check of the fields, the full validator when it fails,
so a refusal carries the same issues) and writes the same rows as those routes'
handlers in :mod:`provenant.server._sessions`, without a JSON round trip and without
reading back the answer nobody reads: one statement per write (one multi-row
``INSERT`` per run of turns of known sessions), all of them in one ``BEGIN IMMEDIATE``
... ``COMMIT``, one timestamp per batch. A refused write (422, 404)
leaves no row and does not stop the others; a database error rolls the whole batch back
and is raised, so the caller may write it again as a whole. The idempotency table is
not written: a batch is applied once or not at all, never half, so it has no lost answer
to replay. ``tests/unit/backends/test_store_exporter.py`` holds the rows written here to
those the REST routes write.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from provenant._json import compact_json
from provenant._wire import MAX_SAFE_INT
from provenant.server._bodies import BODIES
from provenant.server._handling import Conn, Reply, load_agent, not_found
from provenant.server._sessions import insert_session
from provenant.server._store import Store, now_iso

__all__ = ["SessionWrite", "write_batch"]

_ROUTES = ("createSession", "addTurn", "endSession")
_ROLES = frozenset({"USER", "ASSISTANT", "SYSTEM", "TOOL"})
_END_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
_TURN_COUNTS = ("latencyMs", "inputTokens", "outputTokens")
_END_COUNTS = ("totalTokens", "totalLatencyMs")
_TURN_KEYS = frozenset({"role", "content", "toolCalls", "metadata", *_TURN_COUNTS})
_END_KEYS = frozenset({"status", *_END_COUNTS})
# The end route's totals when none is given: the session's, else the sum of its turns
# (TOTAL() is a float sum that cannot overflow; clamped as clamp_int() clamps).
_SUM = "CAST(max(-{m}, min({m}, (SELECT TOTAL({col}) FROM turns WHERE session_id = ?))) AS INTEGER)"
_END_SQL = (
    "UPDATE sessions SET status = ?, ended_at = COALESCE(ended_at, ?),"
    " total_tokens = COALESCE(?, total_tokens, "
    + _SUM.format(m=MAX_SAFE_INT, col="COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)")
    + "), total_latency_ms = COALESCE(?, total_latency_ms, "
    + _SUM.format(m=MAX_SAFE_INT, col="latency_ms")
    + "), updated_at = ? WHERE id = ? AND org_id = ?"
)
_TURN_COLUMNS = (
    "INSERT INTO turns (id, session_id, role, content, tool_calls, latency_ms, input_tokens,"
    " output_tokens, metadata, created_at, content_json)"
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_TURN_INSERT = _TURN_COLUMNS + " VALUES " + _ROW
# Rows per multi-row INSERT: 704 parameters, under the 999 of older SQLite builds.
_ROWS_PER_INSERT = 64
_INSERTS: Dict[int, str] = {}
_NOT_UNICODE = {"error": "Request text is not valid Unicode"}


class SessionWrite:
    """
    One write of a session: ``route`` is ``"createSession"``, ``"addTurn"`` or
    ``"endSession"``; ``key`` names the session in the caller's terms (a create maps it
    to the new id); ``body`` is the route's request body; ``session_id``, when given,
    names the session of a turn or end directly.
    """

    __slots__ = ("body", "key", "route", "session_id")

    def __init__(
        self, route: str, key: str, body: Dict[str, Any], session_id: Optional[str] = None
    ) -> None:
        if route not in _ROUTES:
            raise ValueError(f"{route!r} is not a session write")
        self.route = route
        self.key = key
        self.body = body
        self.session_id = session_id


Outcome = Tuple[int, Any]


def write_batch(
    store: Store, org_id: str, writes: Sequence[SessionWrite], session_ids: Dict[str, str]
) -> List[Outcome]:
    """
    Apply ``writes`` in order in one transaction; ``(status, detail)`` for each.

    ``detail`` is the new session's id for a create, ``None`` for other successes, and
    the error answer (``{"error": ...}``) for a refusal. A turn or end whose session key
    is unknown (its create was refused or never written) answers 404. ``session_ids``
    gains the keys of the sessions created, once the transaction is committed.

    Raises:
        sqlite3.Error: The transaction failed; nothing of the batch was written.
    """
    outcomes: List[Outcome] = []
    created: Dict[str, str] = {}
    agents: set[str] = set()  # agents found in this org during this batch
    now = now_iso()
    with store.write() as conn:
        # Turn rows of sessions known to exist wait here (their places in ``outcomes``)
        # and go in together, before any other statement: one INSERT per run of turns.
        rows = _TurnRows(conn, outcomes)
        for write in writes:
            route = write.route
            body = write.body
            if not _quick_check(route, body):
                issues: List[Dict[str, Any]] = []
                body = BODIES[route].check(body, [], issues)
                if issues:
                    outcomes.append((422, {"error": "Validation error", "issues": issues}))
                    continue
            try:
                if route == "createSession":
                    rows.flush()
                    session_id = _create(conn, org_id, body, now, agents)
                    created[write.key] = session_id
                    outcomes.append((201, session_id))
                    continue
                known = created.get(write.key) or session_ids.get(write.key)
                session_id_or_none: Optional[str] = write.session_id or known
                if session_id_or_none is None:
                    outcomes.append((404, {"error": "Session not found"}))
                    continue
                if route == "addTurn":
                    turn = _turn_row(session_id_or_none, body, now)
                    if known is not None:
                        # A session this batch or an earlier one created exists in this org.
                        rows.add(turn)
                        continue
                    rows.flush()
                    _turn_checked(conn, org_id, turn)
                    outcomes.append((201, None))
                else:
                    rows.flush()
                    _end(conn, org_id, session_id_or_none, body, now)
                    outcomes.append((200, None))
            except Reply as reply:
                outcomes.append((reply.status, reply.body))
            except (UnicodeEncodeError, UnicodeDecodeError):
                outcomes.append((400, _NOT_UNICODE))
        rows.flush()
    session_ids.update(created)
    return outcomes


class _TurnRows:
    """
    Turn rows written together: each statement's step lets go of the GIL (a hand-over to
    the caller's thread, then a wait to take it back), so a run of turns of known
    sessions is one multi-row ``INSERT`` rather than one statement each. A run that
    fails to bind (text UTF-8 cannot carry) is written row by row, so that only the bad
    row is refused, as when each was its own statement.
    """

    __slots__ = ("_conn", "_outcomes", "_places", "_rows")

    def __init__(self, conn: Conn, outcomes: List[Outcome]) -> None:
        self._conn = conn
        self._outcomes = outcomes
        self._rows: List[Tuple[Any, ...]] = []
        self._places: List[int] = []

    def add(self, row: Tuple[Any, ...]) -> None:
        """Queue ``row``; its outcome (201) is settled when it is written."""
        self._places.append(len(self._outcomes))
        self._outcomes.append((201, None))
        self._rows.append(row)

    def flush(self) -> None:
        """Write the queued rows, in order."""
        rows = self._rows
        if not rows:
            return
        self._rows, places, self._places = [], self._places, []
        conn = self._conn
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            run = rows[start : start + _ROWS_PER_INSERT]
            try:
                conn.execute(_insert_rows_sql(len(run)), [value for row in run for value in row])
            except (UnicodeEncodeError, UnicodeDecodeError):
                for row, place in zip(run, places[start : start + _ROWS_PER_INSERT]):
                    try:
                        conn.execute(_TURN_INSERT, row)
                    except (UnicodeEncodeError, UnicodeDecodeError):
                        self._outcomes[place] = (400, _NOT_UNICODE)


def _insert_rows_sql(count: int) -> str:
    """The ``INSERT`` of ``count`` turn rows (the same text for the same count, so that
    sqlite3 keeps its prepared statement)."""
    sql = _INSERTS.get(count)
    if sql is None:
        sql = _INSERTS[count] = _TURN_COLUMNS + " VALUES " + ", ".join([_ROW] * count)
    return sql


def _quick_check(route: str, body: Dict[str, Any]) -> bool:
    """True when ``body`` certainly passes the route's schema (the usual case, checked in
    a few comparisons, written out: a turn's check is on every write); False sends it
    through the full validator."""
    get = body.get
    counts: Tuple[str, ...]
    if route == "addTurn":
        if not _TURN_KEYS.issuperset(body) or get("role") not in _ROLES:
            return False
        if not isinstance(get("content"), (str, dict, list)):
            return False
        calls, meta = get("toolCalls"), get("metadata")
        if (calls is not None and not isinstance(calls, list)) or (
            meta is not None and not isinstance(meta, dict)
        ):
            return False
        counts = _TURN_COUNTS
    elif route == "endSession":
        if not _END_KEYS.issuperset(body) or get("status") not in _END_STATUSES:
            return False
        counts = _END_COUNTS
    else:
        return False  # a create: the full validator (once per session)
    for name in counts:
        value = get(name)
        if value is not None and (
            type(value) is not int or not -MAX_SAFE_INT <= value <= MAX_SAFE_INT
        ):
            return False
    return True


# The variant nibble of a UUID (RFC 4122: 10xx) for each random nibble.
_VARIANT = "89ab" * 4


def _turn_id() -> str:
    """A fresh UUID v4 string, as :func:`~provenant.server._store.new_id` makes (the same
    16 random bytes, the same text), in a third of its time: one per turn written."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


def _create(conn: Conn, org: str, b: Dict[str, Any], now: str, agents: set[str]) -> str:
    """``POST /api/sessions``: the row the route writes (:func:`insert_session`)."""
    agent_id = b["agentId"]
    if agent_id not in agents:
        load_agent(conn, org, agent_id)  # 404 for an agent of another org, or none
        agents.add(agent_id)
    return insert_session(conn, org, agent_id, b, now)


def _turn_row(session_id: str, b: Dict[str, Any], now: str) -> Tuple[Any, ...]:
    """The row ``POST /api/sessions/:id/turns`` writes
    (:func:`~provenant.server._sessions.add_turn`)."""
    content = b["content"]
    calls, meta = b.get("toolCalls"), b.get("metadata")
    return (
        _turn_id(),
        session_id,
        b["role"],
        content if isinstance(content, str) else compact_json(content),
        "[]" if calls is None else compact_json(calls),
        b.get("latencyMs"),
        b.get("inputTokens"),
        b.get("outputTokens"),
        "{}" if meta is None else compact_json(meta),
        now,
        0 if isinstance(content, str) else 1,  # content_json: text or a JSON value
    )


def _turn_checked(conn: Conn, org: str, turn: Tuple[Any, ...]) -> None:
    """Write a turn of a session not known to be this org's: 404 unless it is."""
    cursor = conn.execute(
        _TURN_COLUMNS + " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
        " WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ? AND org_id = ?)",
        (*turn, turn[1], org),
    )
    if cursor.rowcount != 1:
        raise not_found("Session not found")


def _end(conn: Conn, org: str, session_id: str, b: Dict[str, Any], now: str) -> None:
    """``POST /api/sessions/:id/end`` as :func:`~provenant.server._sessions.end_session`
    writes it: the status given, the first end's time kept, totals given or else kept or
    summed from the turns; 404 for a session not of this org."""
    cursor = conn.execute(
        _END_SQL,
        (
            b.get("status") or "COMPLETED",
            now,
            b.get("totalTokens"),
            session_id,
            b.get("totalLatencyMs"),
            session_id,
            now,
            session_id,
            org,
        ),
    )
    if cursor.rowcount != 1:
        raise not_found("Session not found")
