"""
Route handlers of ``/api/sessions`` and their turns.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from provenant._json import compact_json
from provenant._wire import clamp_int
from provenant.server._cost import add_costs
from provenant.server._handling import (
    Conn,
    load_agent,
    load_session,
    not_found,
    session_with_agent,
)
from provenant.server._lazy import PAGE_SQL, Rows, page
from provenant.server._records import (
    TURN_JSON_COLUMNS,
    agent_record,
    session_record,
    turn_json,
    turn_record,
)
from provenant.server._session_list import list_sessions_page
from provenant.server._store import new_id, now_iso


def insert_session(conn: Conn, org: str, agent_id: str, b: Any, now: str) -> str:
    """Write a new ``ACTIVE`` session row from a validated create body; its id.

    The one insert of ``POST /api/sessions``, shared with the embedded store's batch writer.
    """
    session_id = new_id()
    conn.execute(
        "INSERT INTO sessions (id, org_id, agent_id, agent_version_id, environment_id,"
        " external_id, user_id, metadata, tags, started_at, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE', ?, ?)",
        (
            session_id,
            org,
            agent_id,
            b.get("agentVersionId"),
            b.get("environmentId"),
            b.get("externalId"),
            b.get("userId"),
            compact_json(b.get("metadata", {})),
            compact_json(b.get("tags", [])),
            now,
            now,
            now,
        ),
    )
    return session_id


def create_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    agent = load_agent(conn, org, b["agentId"])
    session_id = insert_session(conn, org, agent[0], b, now_iso())
    out = session_record(load_session(conn, org, session_id))
    out["agent"] = agent_record(agent)
    add_costs(conn, [out])
    return 201, out


def list_sessions(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    page, headers = list_sessions_page(conn, org, q)
    add_costs(conn, page)
    return (200, page, headers) if headers else (200, page)


def get_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    out: dict[str, Any] = session_with_agent(conn, org, load_session(conn, org, p[0]))
    sql = f"SELECT {TURN_JSON_COLUMNS} FROM turns t WHERE t.session_id = ? ORDER BY t.seq{PAGE_SQL}"
    out["turns"] = Rows(sql, (p[0], *page(q)), turn_record, turn_json)
    return 200, out


def add_turn(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    content = b["content"]
    turn = (
        new_id(),
        p[0],
        b["role"],
        content if isinstance(content, str) else compact_json(content),
        compact_json(b["toolCalls"]) if "toolCalls" in b else "[]",
        b.get("latencyMs"),
        b.get("inputTokens"),
        b.get("outputTokens"),
        compact_json(b["metadata"]) if "metadata" in b else "{}",
        now_iso(),
        0 if isinstance(content, str) else 1,  # content_json: text or a JSON value
    )
    # One statement checks the session's org and inserts (the hot path of the exporter).
    cursor = conn.execute(
        "INSERT INTO turns (id, session_id, role, content, tool_calls, latency_ms, input_tokens,"
        " output_tokens, metadata, created_at, content_json)"
        " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
        " WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ? AND org_id = ?)",
        (*turn, p[0], org),
    )
    if cursor.rowcount != 1:
        raise not_found("Session not found")
    # The answer holds the body's own values (what was stored is their JSON text), so
    # the hot path of the exporter parses nothing back.
    out = turn_record((*turn[:3], "", None, *turn[5:8], None, turn[9], None, 0))
    out["content"] = content
    out["toolCalls"] = b.get("toolCalls", [])
    out["metadata"] = b.get("metadata", {})
    return 201, out


def _finish_session(
    conn: Conn, org: str, session_id: str, b: dict[str, Any], ended_at: Optional[str]
) -> dict[str, Any]:
    row = load_session(conn, org, session_id)
    now = now_iso()
    total_tokens = b.get("totalTokens")
    total_latency = b.get("totalLatencyMs")
    if total_tokens is None or total_latency is None:
        sums = conn.execute(
            # TOTAL() is a float sum: it cannot overflow where SUM() of huge ints would.
            "SELECT TOTAL(COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)),"
            " TOTAL(latency_ms) FROM turns WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if total_tokens is None:
            total_tokens = clamp_int(sums[0]) if row[10] is None else row[10]
        if total_latency is None:
            total_latency = clamp_int(sums[1]) if row[11] is None else row[11]
    conn.execute(
        "UPDATE sessions SET status = ?, ended_at = ?, total_tokens = ?, total_latency_ms = ?,"
        " updated_at = ? WHERE id = ?",
        (
            # Ending twice keeps the first outcome unless a status is given again.
            b.get("status") or (row[12] if row[9] is not None else "COMPLETED"),
            row[9] if row[9] is not None and ended_at is None else (ended_at or now),
            total_tokens,
            total_latency,
            now,
            session_id,
        ),
    )
    return session_with_agent(conn, org, load_session(conn, org, session_id))


def end_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    return 200, _finish_session(conn, org, p[0], b, None)


def update_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    row = load_session(conn, org, p[0])
    sets: list[str] = []
    values: list[Any] = []
    for key, column in (("externalId", "external_id"), ("userId", "user_id")):
        if key in b:
            sets.append(f"{column} = ?")
            values.append(b[key])
    for key in ("metadata", "tags"):
        if key in b:
            sets.append(f"{key} = ?")
            values.append(compact_json(b[key]))
    if sets:
        sets.append("updated_at = ?")
        values.append(now_iso())
        conn.execute(f"UPDATE sessions SET {', '.join(sets)} WHERE id = ?", (*values, p[0]))
    ending = "status" in b or "endedAt" in b
    if not ending:
        totals = [
            (k, c)
            for k, c in (("totalTokens", "total_tokens"), ("totalLatencyMs", "total_latency_ms"))
            if k in b
        ]
        for key, column in totals:
            conn.execute(f"UPDATE sessions SET {column} = ? WHERE id = ?", (b[key], p[0]))
        return 200, session_with_agent(conn, org, load_session(conn, org, p[0]))
    del row
    return 200, _finish_session(conn, org, p[0], b, b.get("endedAt"))


def delete_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    load_session(conn, org, p[0])
    conn.execute("DELETE FROM turns WHERE session_id = ?", (p[0],))
    conn.execute("DELETE FROM sessions WHERE id = ?", (p[0],))
    # The answers remembered for its writes hold its content too.
    conn.execute("DELETE FROM idempotency WHERE object_id = ? AND org_id = ?", (p[0], org))
    return 200, {"success": True}
