"""
The REST contract over the local store, without sockets.

``Router.handle`` takes a request as plain values and returns a :class:`Response`;
the HTTP server (``_http.py``) and the embedded backend (``LocalBackend``) both go
through it, so authentication, validation (422 with ``issues``), malformed JSON (400),
the 5 MB limit (413), org isolation (404), idempotency keys and the JSON-string
columns behave the same on either::

    router = Router(Store("/tmp/p.db"))
    response = router.handle("GET", "/health", {}, {}, b"")
    assert response.status == 200
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional
from urllib.parse import unquote

from provenant.server._schema import (
    MAX_INT,
    AnyArray,
    AnyJson,
    AnyObject,
    Body,
    Bool,
    Content,
    Field,
    Int,
    ListOf,
    Num,
    Str,
    StrList,
    Timestamp,
)
from provenant.server._slug import slugify
from provenant.server._store import Store, new_id, now_iso

__all__ = ["BODIES", "MAX_BODY_BYTES", "Response", "Router"]

logger = logging.getLogger("provenant.server")

#: Request bodies above this size are refused with 413 (Express's ``5mb``).
MAX_BODY_BYTES = 5 * 1024 * 1024
_IDEMPOTENCY_TTL_SECONDS = 24 * 3600.0
_SESSION_LIST_LIMIT = 100
_SSE_PING_SECONDS = 15.0
_SSE_POLL_SECONDS = 0.5

_ROLES = ("USER", "ASSISTANT", "SYSTEM", "TOOL")
_END_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
_SLUG_PATTERN = r"[a-z0-9-]+"


@dataclass
class Response:
    """
    One answer of the router.

    Attributes:
        status: The HTTP status.
        body: A JSON value, or ``None`` for no body.
        headers: Extra response headers.
        stream: For Server-Sent Events, the chunks to send (``body`` is then ``None``).

    .. versionadded:: 0.1
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Optional[Iterator[bytes]] = None


class _Reply(Exception):
    """An error answer raised from inside a handler (rolls the transaction back)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _not_found(what: str = "Not found") -> _Reply:
    return _Reply(404, {"error": what})


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- request bodies (also what the OpenAPI document describes) -------------------------

_AGENT_FIELDS: dict[str, tuple[Field, bool]] = {
    "name": (Str(min_length=1), True),
    "slug": (Str(min_length=1, pattern=_SLUG_PATTERN), True),
    "description": (Str(), False),
    "tags": (StrList(), False),
    "modelFamily": (Str(), False),
}

BODIES: dict[str, Body] = {
    "createAgent": Body(_AGENT_FIELDS),
    "getOrCreateAgent": Body({k: v for k, v in _AGENT_FIELDS.items() if k != "slug"}),
    "updateAgent": Body({k: (f, False) for k, (f, _) in _AGENT_FIELDS.items()}),
    "createSession": Body(
        {
            "agentId": (Str(), True),
            "agentVersionId": (Str(), False),
            "environmentId": (Str(), False),
            "externalId": (Str(), False),
            "userId": (Str(), False),
            "metadata": (AnyObject(), False),
            "tags": (StrList(), False),
        }
    ),
    "addTurn": Body(
        {
            "role": (Str(enum=_ROLES), True),
            "content": (Content(), True),
            "toolCalls": (AnyArray(), False),
            "latencyMs": (Int(), False),
            "inputTokens": (Int(), False),
            "outputTokens": (Int(), False),
            "metadata": (AnyObject(), False),
        }
    ),
    "endSession": Body(
        {
            "status": (Str(enum=_END_STATUSES), False),
            "totalTokens": (Int(), False),
            "totalLatencyMs": (Int(), False),
        }
    ),
    "updateSession": Body(
        {
            "status": (Str(enum=_END_STATUSES), False),
            "endedAt": (Timestamp(), False),
            "totalTokens": (Int(), False),
            "totalLatencyMs": (Int(), False),
            "externalId": (Str(), False),
            "userId": (Str(), False),
            "metadata": (AnyObject(), False),
            "tags": (StrList(), False),
        }
    ),
    "createSuite": Body(
        {
            "name": (Str(min_length=1), True),
            "description": (Str(), False),
            "tags": (StrList(), False),
        }
    ),
    "addCase": Body(
        {
            "name": (Str(min_length=1), True),
            "description": (Str(), False),
            "input": (AnyJson(), True),
            "expectedOutput": (AnyJson(), False),
            "scoringFn": (Str(min_length=1), False),
            "weight": (Num(), False),
            "tags": (StrList(), False),
        }
    ),
    "createRun": Body(
        {
            "suiteId": (Str(), True),
            "agentId": (Str(), True),
            "agentVersionId": (Str(), False),
            "environmentId": (Str(), False),
            "metadata": (AnyObject(), False),
        }
    ),
    "submitResults": Body(
        {
            "results": (
                ListOf(
                    Body(
                        {
                            "caseId": (Str(), True),
                            "actualOutput": (AnyJson(), False),
                            "score": (Num(), False),
                            "passed": (Bool(), False),
                            "latencyMs": (Int(), False),
                            "tokenCount": (Int(), False),
                            "error": (Str(), False),
                            "metadata": (AnyObject(), False),
                        }
                    ),
                    min_items=1,
                ),
                True,
            )
        }
    ),
}

# -- rows to wire objects ---------------------------------------------------------------

_AGENT_COLS = (
    "a.id, a.org_id, a.name, a.slug, a.description, a.tags, a.model_family, a.status,"
    " a.created_at, a.updated_at"
)
_SESSION_COLS = (
    "s.id, s.agent_id, s.agent_version_id, s.environment_id, s.external_id, s.user_id,"
    " s.metadata, s.tags, s.started_at, s.ended_at, s.total_tokens, s.total_latency_ms,"
    " s.status, s.created_at, s.updated_at"
)
_TURN_COLS = (
    "t.id, t.session_id, t.role, t.content, t.tool_calls, t.latency_ms, t.input_tokens,"
    " t.output_tokens, t.metadata, t.created_at, t.seq"
)
_SUITE_COLS = "e.id, e.org_id, e.name, e.description, e.tags, e.created_at, e.updated_at"
_CASE_COLS = (
    "c.id, c.suite_id, c.name, c.description, c.input, c.expected_output, c.scoring_fn,"
    " c.weight, c.tags, c.created_at, c.updated_at"
)
_RUN_COLS = (
    "r.id, r.org_id, r.suite_id, r.agent_id, r.agent_version_id, r.environment_id, r.status,"
    " r.pass_rate, r.score, r.metadata, r.started_at, r.completed_at, r.created_at,"
    " r.updated_at"
)
_RESULT_COLS = (
    "x.id, x.run_id, x.case_id, x.actual_output, x.score, x.passed, x.latency_ms,"
    " x.token_count, x.error, x.metadata, x.created_at"
)


def _agent(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "orgId": row[1],
        "name": row[2],
        "slug": row[3],
        "description": row[4],
        "tags": row[5],
        "modelFamily": row[6],
        "status": row[7],
        "createdAt": row[8],
        "updatedAt": row[9],
    }


def _session(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "agentId": row[1],
        "agentVersionId": row[2],
        "environmentId": row[3],
        "externalId": row[4],
        "userId": row[5],
        "metadata": row[6],
        "tags": row[7],
        "startedAt": row[8],
        "endedAt": row[9],
        "totalTokens": row[10],
        "totalLatencyMs": row[11],
        "status": row[12],
        "createdAt": row[13],
        "updatedAt": row[14],
    }


def _turn(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "sessionId": row[1],
        "role": row[2],
        "content": row[3],
        "toolCalls": row[4],
        "latencyMs": row[5],
        "inputTokens": row[6],
        "outputTokens": row[7],
        "metadata": row[8],
        "createdAt": row[9],
    }


def _suite(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "orgId": row[1],
        "name": row[2],
        "description": row[3],
        "tags": row[4],
        "createdAt": row[5],
        "updatedAt": row[6],
    }


def _case(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "suiteId": row[1],
        "name": row[2],
        "description": row[3],
        "input": row[4],
        "expectedOutput": row[5],
        "scoringFn": row[6],
        "weight": row[7],
        "tags": row[8],
        "createdAt": row[9],
        "updatedAt": row[10],
    }


def _run(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "orgId": row[1],
        "suiteId": row[2],
        "agentId": row[3],
        "agentVersionId": row[4],
        "environmentId": row[5],
        "status": row[6],
        "passRate": row[7],
        "score": row[8],
        "metadata": row[9],
        "startedAt": row[10],
        "completedAt": row[11],
        "createdAt": row[12],
        "updatedAt": row[13],
    }


def _result(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "runId": row[1],
        "caseId": row[2],
        "actualOutput": row[3],
        "score": row[4],
        "passed": bool(row[5]),
        "latencyMs": row[6],
        "tokenCount": row[7],
        "error": row[8],
        "metadata": row[9],
        "createdAt": row[10],
    }


# -- handlers -----------------------------------------------------------------------------

Conn = sqlite3.Connection
Handler = Callable[[Conn, str, "list[str]", Mapping[str, str], Any], "tuple[int, Any]"]


def _load_agent(conn: Conn, org_id: str, agent_id: str, missing: str = "Agent not found") -> Any:
    row = conn.execute(
        f"SELECT {_AGENT_COLS} FROM agents a WHERE a.id = ? AND a.org_id = ?", (agent_id, org_id)
    ).fetchone()
    if row is None:
        raise _not_found(missing)
    return row


def _load_session(conn: Conn, org_id: str, session_id: str) -> Any:
    row = conn.execute(
        f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.id = ? AND s.org_id = ?",
        (session_id, org_id),
    ).fetchone()
    if row is None:
        raise _not_found("Session not found")
    return row


def _session_with_agent(conn: Conn, org_id: str, row: Any) -> dict[str, Any]:
    out = _session(row)
    agent = conn.execute(f"SELECT {_AGENT_COLS} FROM agents a WHERE a.id = ?", (row[1],)).fetchone()
    out["agent"] = _agent(agent) if agent is not None else None
    return out


def _list_agents(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    rows = conn.execute(
        f"SELECT {_AGENT_COLS} FROM agents a WHERE a.org_id = ? "
        "ORDER BY a.updated_at DESC, a.seq DESC",
        (org,),
    ).fetchall()
    return 200, [_agent(row) for row in rows]


def _agent_detail(conn: Conn, row: Any) -> dict[str, Any]:
    out = _agent(row)
    sessions = conn.execute("SELECT COUNT(*) FROM sessions WHERE agent_id = ?", (row[0],))
    runs = conn.execute("SELECT COUNT(*) FROM eval_runs WHERE agent_id = ?", (row[0],))
    out["versions"] = []
    out["_count"] = {
        "sessions": sessions.fetchone()[0],
        "versions": 0,
        "evalRuns": runs.fetchone()[0],
    }
    return out


def _get_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    return 200, _agent_detail(conn, _load_agent(conn, org, p[0]))


def _slug_taken(slug: str) -> _Reply:
    return _Reply(409, {"error": f"An agent with the slug '{slug}' already exists"})


def _insert_agent(conn: Conn, org: str, body: dict[str, Any], slug: str) -> Any:
    now = now_iso()
    agent_id = new_id()
    conn.execute(
        "INSERT INTO agents (id, org_id, name, slug, description, tags, model_family, status,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'ACTIVE', ?, ?)",
        (
            agent_id,
            org,
            body["name"],
            slug,
            body.get("description"),
            _dumps(body.get("tags", [])),
            body.get("modelFamily"),
            now,
            now,
        ),
    )
    return _load_agent(conn, org, agent_id)


def _create_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    slug = b["slug"]
    if conn.execute("SELECT 1 FROM agents WHERE org_id = ? AND slug = ?", (org, slug)).fetchone():
        raise _slug_taken(slug)
    return 201, _agent(_insert_agent(conn, org, b, slug))


def _get_or_create_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    slug = slugify(b["name"])
    row = conn.execute(
        f"SELECT {_AGENT_COLS} FROM agents a WHERE a.org_id = ? AND a.slug = ?", (org, slug)
    ).fetchone()
    if row is not None:
        return 200, _agent(row)
    return 201, _agent(_insert_agent(conn, org, b, slug))


def _update_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    row = _load_agent(conn, org, p[0])
    slug = b.get("slug")
    if slug is not None and slug != row[3]:
        taken = conn.execute(
            "SELECT 1 FROM agents WHERE org_id = ? AND slug = ?", (org, slug)
        ).fetchone()
        if taken:
            raise _slug_taken(slug)
    columns = {
        "name": "name",
        "slug": "slug",
        "description": "description",
        "modelFamily": "model_family",
    }
    sets = [f"{column} = ?" for key, column in columns.items() if key in b]
    values: list[Any] = [b[key] for key in columns if key in b]
    if "tags" in b:
        sets.append("tags = ?")
        values.append(_dumps(b["tags"]))
    sets.append("updated_at = ?")
    values.append(now_iso())
    conn.execute(f"UPDATE agents SET {', '.join(sets)} WHERE id = ?", (*values, p[0]))
    return 200, _agent_detail(conn, _load_agent(conn, org, p[0]))


def _archive_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    _load_agent(conn, org, p[0])
    conn.execute(
        "UPDATE agents SET status = 'ARCHIVED', updated_at = ? WHERE id = ?", (now_iso(), p[0])
    )
    return 200, _agent(_load_agent(conn, org, p[0]))


def _create_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    agent = _load_agent(conn, org, b["agentId"])
    now = now_iso()
    session_id = new_id()
    conn.execute(
        "INSERT INTO sessions (id, org_id, agent_id, agent_version_id, environment_id,"
        " external_id, user_id, metadata, tags, started_at, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE', ?, ?)",
        (
            session_id,
            org,
            agent[0],
            b.get("agentVersionId"),
            b.get("environmentId"),
            b.get("externalId"),
            b.get("userId"),
            _dumps(b.get("metadata", {})),
            _dumps(b.get("tags", [])),
            now,
            now,
            now,
        ),
    )
    out = _session(_load_session(conn, org, session_id))
    out["agent"] = _agent(agent)
    return 201, out


def _list_sessions(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    where = ["s.org_id = ?"]
    args: list[Any] = [org]
    for key, column in (
        ("agentId", "s.agent_id"),
        ("environmentId", "s.environment_id"),
        ("status", "s.status"),
    ):
        if q.get(key):
            where.append(f"{column} = ?")
            args.append(q[key])
    if q.get("q"):
        where.append(
            "EXISTS (SELECT 1 FROM turns t WHERE t.session_id = s.id AND instr(t.content, ?) > 0)"
        )
        args.append(q["q"])
    rows = conn.execute(
        f"SELECT {_SESSION_COLS}, {_AGENT_COLS},"
        " (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id)"
        " FROM sessions s JOIN agents a ON a.id = s.agent_id"
        f" WHERE {' AND '.join(where)} ORDER BY s.started_at DESC, s.seq DESC LIMIT ?",
        (*args, _SESSION_LIST_LIMIT),
    ).fetchall()
    out = []
    for row in rows:
        item = _session(row[:15])
        item["agent"] = _agent(row[15:25])
        item["_count"] = {"turns": row[25]}
        out.append(item)
    return 200, out


def _get_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    out = _session_with_agent(conn, org, _load_session(conn, org, p[0]))
    rows = conn.execute(
        f"SELECT {_TURN_COLS} FROM turns t WHERE t.session_id = ? ORDER BY t.seq", (p[0],)
    ).fetchall()
    out["turns"] = [_turn(row) for row in rows]
    return 200, out


def _add_turn(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    content = b["content"]
    turn = (
        new_id(),
        p[0],
        b["role"],
        content if isinstance(content, str) else _dumps(content),
        _dumps(b["toolCalls"]) if "toolCalls" in b else "[]",
        b.get("latencyMs"),
        b.get("inputTokens"),
        b.get("outputTokens"),
        _dumps(b["metadata"]) if "metadata" in b else "{}",
        now_iso(),
    )
    # One statement checks the session's org and inserts (the hot path of the exporter).
    cursor = conn.execute(
        "INSERT INTO turns (id, session_id, role, content, tool_calls, latency_ms, input_tokens,"
        " output_tokens, metadata, created_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
        " WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ? AND org_id = ?)",
        (*turn, p[0], org),
    )
    if cursor.rowcount != 1:
        raise _not_found("Session not found")
    return 201, _turn(turn)


def _finish_session(
    conn: Conn, org: str, session_id: str, b: dict[str, Any], ended_at: Optional[str]
) -> dict[str, Any]:
    row = _load_session(conn, org, session_id)
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
            total_tokens = _clamp_int(sums[0]) if row[10] is None else row[10]
        if total_latency is None:
            total_latency = _clamp_int(sums[1]) if row[11] is None else row[11]
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
    return _session_with_agent(conn, org, _load_session(conn, org, session_id))


def _end_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    return 200, _finish_session(conn, org, p[0], b, None)


def _update_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    row = _load_session(conn, org, p[0])
    sets: list[str] = []
    values: list[Any] = []
    for key, column in (("externalId", "external_id"), ("userId", "user_id")):
        if key in b:
            sets.append(f"{column} = ?")
            values.append(b[key])
    for key in ("metadata", "tags"):
        if key in b:
            sets.append(f"{key} = ?")
            values.append(_dumps(b[key]))
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
        return 200, _session_with_agent(conn, org, _load_session(conn, org, p[0]))
    del row
    return 200, _finish_session(conn, org, p[0], b, b.get("endedAt"))


def _delete_session(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    _load_session(conn, org, p[0])
    conn.execute("DELETE FROM turns WHERE session_id = ?", (p[0],))
    conn.execute("DELETE FROM sessions WHERE id = ?", (p[0],))
    return 200, {"success": True}


def _load_suite(conn: Conn, org: str, suite_id: str) -> Any:
    row = conn.execute(
        f"SELECT {_SUITE_COLS} FROM eval_suites e WHERE e.id = ? AND e.org_id = ?",
        (suite_id, org),
    ).fetchone()
    if row is None:
        raise _not_found()
    return row


def _list_suites(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    rows = conn.execute(
        f"SELECT {_SUITE_COLS}, (SELECT COUNT(*) FROM eval_cases c WHERE c.suite_id = e.id)"
        " FROM eval_suites e WHERE e.org_id = ? ORDER BY e.created_at DESC, e.seq DESC",
        (org,),
    ).fetchall()
    out = []
    for row in rows:
        item = _suite(row)
        item["_count"] = {"cases": row[7]}
        out.append(item)
    return 200, out


def _create_suite(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    now = now_iso()
    suite_id = new_id()
    conn.execute(
        "INSERT INTO eval_suites (id, org_id, name, description, tags, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (suite_id, org, b["name"], b.get("description"), _dumps(b.get("tags", [])), now, now),
    )
    return 201, _suite(_load_suite(conn, org, suite_id))


def _get_suite(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    out = _suite(_load_suite(conn, org, p[0]))
    rows = conn.execute(
        f"SELECT {_CASE_COLS} FROM eval_cases c WHERE c.suite_id = ? ORDER BY c.seq", (p[0],)
    ).fetchall()
    out["cases"] = [_case(row) for row in rows]
    return 200, out


def _add_case(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    _load_suite(conn, org, p[0])
    now = now_iso()
    case_id = new_id()
    expected = b.get("expectedOutput")
    conn.execute(
        "INSERT INTO eval_cases (id, suite_id, name, description, input, expected_output,"
        " scoring_fn, weight, tags, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            case_id,
            p[0],
            b["name"],
            b.get("description"),
            _dumps(b["input"]),
            _dumps(expected) if expected is not None else None,
            b.get("scoringFn", "exact_match"),
            b.get("weight", 1.0),
            _dumps(b.get("tags", [])),
            now,
            now,
        ),
    )
    row = conn.execute(f"SELECT {_CASE_COLS} FROM eval_cases c WHERE c.id = ?", (case_id,))
    return 201, _case(row.fetchone())


def _load_run(conn: Conn, org: str, run_id: str) -> Any:
    row = conn.execute(
        f"SELECT {_RUN_COLS} FROM eval_runs r WHERE r.id = ? AND r.org_id = ?", (run_id, org)
    ).fetchone()
    if row is None:
        raise _not_found()
    return row


def _create_run(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    _load_suite(conn, org, b["suiteId"])
    _load_agent(conn, org, b["agentId"])
    now = now_iso()
    run_id = new_id()
    conn.execute(
        "INSERT INTO eval_runs (id, org_id, suite_id, agent_id, agent_version_id, environment_id,"
        " status, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'QUEUED', ?, ?, ?)",
        (
            run_id,
            org,
            b["suiteId"],
            b["agentId"],
            b.get("agentVersionId"),
            b.get("environmentId"),
            _dumps(b.get("metadata", {})),
            now,
            now,
        ),
    )
    return 201, _run(_load_run(conn, org, run_id))


def _list_runs(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    where = ["r.org_id = ?"]
    args: list[Any] = [org]
    for key, column in (("agentId", "r.agent_id"), ("suiteId", "r.suite_id")):
        if q.get(key):
            where.append(f"{column} = ?")
            args.append(q[key])
    rows = conn.execute(
        f"SELECT {_RUN_COLS} FROM eval_runs r WHERE {' AND '.join(where)}"
        " ORDER BY r.created_at DESC, r.seq DESC",
        args,
    ).fetchall()
    return 200, [_run(row) for row in rows]


def _get_run(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    out = _run(_load_run(conn, org, p[0]))
    rows = conn.execute(
        f"SELECT {_RESULT_COLS}, {_CASE_COLS} FROM eval_results x"
        " JOIN eval_cases c ON c.id = x.case_id WHERE x.run_id = ? ORDER BY x.seq",
        (p[0],),
    ).fetchall()
    results = []
    for row in rows:
        item = _result(row[:11])
        item["case"] = _case(row[11:])
        results.append(item)
    out["results"] = results
    return 200, out


def _submit_results(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    run = _load_run(conn, org, p[0])
    results: list[dict[str, Any]] = b["results"]
    case_ids = {
        str(row[0])
        for row in conn.execute("SELECT id FROM eval_cases WHERE suite_id = ?", (run[2],))
    }
    issues = [
        {
            "code": "custom",
            "path": ["results", index, "caseId"],
            "message": "Case not found in the run's suite",
        }
        for index, result in enumerate(results)
        if result["caseId"] not in case_ids
    ]
    if issues:
        raise _Reply(422, {"error": "Validation error", "issues": issues})
    now = now_iso()
    for result in results:
        output = result.get("actualOutput")
        conn.execute(
            "INSERT INTO eval_results (id, run_id, case_id, actual_output, score, passed,"
            " latency_ms, token_count, error, metadata, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id(),
                p[0],
                result["caseId"],
                _dumps(output) if output is not None else None,
                result.get("score"),
                1 if result.get("passed") else 0,
                result.get("latencyMs"),
                result.get("tokenCount"),
                result.get("error"),
                _dumps(result.get("metadata", {})),
                now,
            ),
        )
    total, passed = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(passed), 0) FROM eval_results WHERE run_id = ?", (p[0],)
    ).fetchone()
    scores = [
        float(row[0])
        for row in conn.execute(
            "SELECT score FROM eval_results WHERE run_id = ? AND score IS NOT NULL", (p[0],)
        )
    ]
    # Divide before adding: a mean of huge finite scores stays finite (JSON has no inf).
    mean = sum(score / len(scores) for score in scores) if scores else None
    pass_rate = (passed / total) if total else None
    conn.execute(
        "UPDATE eval_runs SET status = 'COMPLETED', pass_rate = ?, score = ?,"
        " started_at = COALESCE(started_at, ?), completed_at = ?, updated_at = ? WHERE id = ?",
        (pass_rate, mean, now, now, now, p[0]),
    )
    return 200, {"created": len(results)}


# -- routing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    body: Optional[str]  # the key into BODIES; None for no body
    write: bool


_ID = r"([^/]+)"


def _route(method: str, path: str, handler: Handler, body: Optional[str] = None) -> _Route:
    pattern = re.compile("^" + path.replace(":id", _ID) + "$")
    return _Route(method, pattern, handler, body, method != "GET")


_ROUTES = (
    _route("GET", "/api/agents", _list_agents),
    _route("POST", "/api/agents", _create_agent, "createAgent"),
    _route("POST", "/api/agents/get-or-create", _get_or_create_agent, "getOrCreateAgent"),
    _route("GET", "/api/agents/:id", _get_agent),
    _route("PATCH", "/api/agents/:id", _update_agent, "updateAgent"),
    _route("DELETE", "/api/agents/:id", _archive_agent),
    _route("GET", "/api/sessions", _list_sessions),
    _route("POST", "/api/sessions", _create_session, "createSession"),
    _route("GET", "/api/sessions/:id", _get_session),
    _route("PATCH", "/api/sessions/:id", _update_session, "updateSession"),
    _route("DELETE", "/api/sessions/:id", _delete_session),
    _route("POST", "/api/sessions/:id/turns", _add_turn, "addTurn"),
    _route("POST", "/api/sessions/:id/end", _end_session, "endSession"),
    _route("GET", "/api/evals/suites", _list_suites),
    _route("POST", "/api/evals/suites", _create_suite, "createSuite"),
    _route("GET", "/api/evals/suites/:id", _get_suite),
    _route("POST", "/api/evals/suites/:id/cases", _add_case, "addCase"),
    _route("GET", "/api/evals/runs", _list_runs),
    _route("POST", "/api/evals/runs", _create_run, "createRun"),
    _route("GET", "/api/evals/runs/:id", _get_run),
    _route("POST", "/api/evals/runs/:id/results", _submit_results, "submitResults"),
)
_STREAM = re.compile("^/api/sessions/" + _ID + "/stream$")
_ROUTES_BY_METHOD: dict[str, tuple[_Route, ...]] = {
    method: tuple(route for route in _ROUTES if route.method == method)
    for method in {route.method for route in _ROUTES}
}


def _unquote(segment: str) -> str:
    return unquote(segment, errors="replace") if "%" in segment else segment


class Router:
    """
    Answer requests of the REST contract from a :class:`~provenant.server._store.Store`.

    Args:
        store: The store to read and write.

    .. versionadded:: 0.1
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._keys: dict[str, str] = {}
        self._keys_lock = threading.Lock()
        self._stopping = threading.Event()
        self._spec: Optional[dict[str, Any]] = None

    def close(self) -> None:
        """End every open event stream (the store is closed by its owner)."""
        self._stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()

    # -- entry points -----------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        *,
        body_length: Optional[int] = None,
        announced: bool = False,
    ) -> Response:
        """
        Answer one request.

        Args:
            method: The HTTP method.
            path: The path without the query string (percent-encoding kept).
            query: The decoded query parameters (first value of each).
            headers: The request headers (any case).
            body: The raw request body.
            body_length: The announced length when the HTTP layer did not keep an
                oversized body (``len(body)`` otherwise).
            announced: The caller called ``store.announce_write()`` for this request
                (so grouped commits wait for it); it is consumed or withdrawn here.

        Returns:
            The :class:`Response`; never raises.

        .. versionadded:: 0.1
        """
        ticket = [announced]  # True while this request's write announcement is pending
        try:
            return self._handle(method, path, query, headers, body, body_length, ticket)
        finally:
            if ticket[0]:
                self.store.withdraw_write()

    def _handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        body_length: Optional[int],
        ticket: list[bool],
    ) -> Response:
        try:
            method = method.upper()
            if len(path) > 1 and path.endswith("/"):
                path = path.rstrip("/") or "/"
            if path in ("/health", "/api/docs/spec"):
                if method == "HEAD":
                    return Response(200)
                if method != "GET":
                    return Response(405, {"error": "Method not allowed"}, {"Allow": "GET"})
                if path == "/health":
                    return Response(200, {"status": "ok", "ts": now_iso()})
                return Response(200, self.spec())
            if not path.startswith("/api/"):
                return Response(404, {"error": "Not found"})
            if max(len(body), body_length or 0) > MAX_BODY_BYTES:
                return Response(413, {"error": "Request body is larger than 5 MB"})
            lower = {k.lower(): v for k, v in headers.items()}
            org_id = self._authenticate(lower.get("authorization"))
            if org_id is None:
                return Response(
                    401,
                    {
                        "error": "Missing or invalid Authorization header"
                        if not _bearer(lower.get("authorization"))
                        else "Invalid or expired API key"
                    },
                )
            status, answer, extra, stream = self._dispatch(
                org_id, method, path, query, body, lower.get("idempotency-key"), ticket
            )
            return Response(status, answer, extra, stream)
        except Exception:  # the last line of defence: never a traceback on the wire
            logger.exception("provenant server: unhandled error on %s %s", method, path)
            return Response(500, {"error": "Internal server error"})

    def call_as_org(
        self,
        org_id: str,
        method: str,
        path: str,
        query: Optional[Mapping[str, str]],
        body_obj: Any,
        idempotency_key: Optional[str],
    ) -> tuple[int, Any, dict[str, str]]:
        """
        Answer a request already authenticated as ``org_id`` (the embedded backend).

        The body is JSON-encoded as the HTTP backend encodes it and parsed as the
        server parses it, so what HTTP would refuse is refused here too.

        Raises:
            TypeError: ``body_obj`` is not JSON-serialisable (as the HTTP backend raises).

        Returns:
            ``(status, body, headers)``.

        .. versionadded:: 0.1
        """
        raw = b""
        if body_obj is not None:
            raw = json.dumps(body_obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return self.call_raw(org_id, method, path, query, raw, idempotency_key)

    def call_raw(
        self,
        org_id: str,
        method: str,
        path: str,
        query: Optional[Mapping[str, str]],
        raw: bytes,
        idempotency_key: Optional[str],
    ) -> tuple[int, Any, dict[str, str]]:
        """
        Like :meth:`call_as_org` with the body already encoded; never raises.

        .. versionadded:: 0.1
        """
        try:
            method = method.upper()
            if path == "/health" and method == "GET":
                return 200, {"status": "ok", "ts": now_iso()}, {}
            if path == "/api/docs/spec" and method == "GET":
                return 200, self.spec(), {}
            status, answer, headers, stream = self._dispatch(
                org_id, method, path, query or {}, raw, idempotency_key
            )
            if stream is not None:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            return status, answer, headers
        except Exception:
            logger.exception("provenant local store: unhandled error on %s %s", method, path)
            return 500, {"error": "Internal server error"}, {}

    def spec(self) -> dict[str, Any]:
        """The OpenAPI document of every route (built once)."""
        if self._spec is None:
            from provenant.server._openapi import build_spec

            self._spec = build_spec()
        return self._spec

    # -- internals --------------------------------------------------------------------

    def _authenticate(self, header: Optional[str]) -> Optional[str]:
        token = _bearer(header)
        if not token:
            return None
        org_id = self._keys.get(token)
        if org_id is not None:
            return org_id
        org_id = self.store.org_for_key(token)
        if org_id is not None:
            with self._keys_lock:
                if len(self._keys) > 10_000:
                    self._keys.clear()
                self._keys[token] = org_id
        return org_id

    def _dispatch(
        self,
        org_id: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        raw: bytes,
        idempotency_key: Optional[str],
        ticket: Optional[list[bool]] = None,
    ) -> tuple[int, Any, dict[str, str], Optional[Iterator[bytes]]]:
        if len(raw) > MAX_BODY_BYTES:
            return 413, {"error": "Request body is larger than 5 MB"}, {}, None
        if method == "GET":
            match = _STREAM.match(path)
            if match is not None:
                return self._open_stream(org_id, _unquote(match.group(1)))
        for route in _ROUTES_BY_METHOD.get(method, ()):
            match = route.pattern.match(path)
            if match is None:
                continue
            params = [_unquote(group) for group in match.groups()]
            body: Any = None
            if route.body is not None:
                parsed = _parse_body(raw)
                if isinstance(parsed, Response):
                    return parsed.status, parsed.body, {}, None
                issues: list[dict[str, Any]] = []
                body = BODIES[route.body].check(parsed, [], issues)
                if issues:
                    return 422, {"error": "Validation error", "issues": issues}, {}, None
            try:
                if not route.write:
                    with self.store.read() as conn:
                        status, answer = route.handler(conn, org_id, params, query, body)
                    return status, answer, {}, None
                transaction = self.store.write(announced=bool(ticket and ticket[0]))
                if ticket:
                    ticket[0] = False  # the transaction takes the announcement over
                with transaction as conn:
                    if idempotency_key:
                        digest = _idempotency_hash(org_id, idempotency_key, method, path)
                        replay = _replay(conn, digest, org_id, idempotency_key)
                        if replay is not None:
                            return replay[0], replay[1], {"Idempotent-Replayed": "true"}, None
                    status, answer = route.handler(conn, org_id, params, query, body)
                    if idempotency_key and 200 <= status < 300:
                        conn.execute(
                            "INSERT OR REPLACE INTO idempotency (hash, org_id, key, method, path,"
                            " status, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                digest,
                                org_id,
                                idempotency_key,
                                method,
                                path,
                                status,
                                _dumps(answer),
                                time.time(),
                            ),
                        )
                return status, answer, {}, None
            except _Reply as reply:
                return reply.status, reply.body, {}, None
            except (UnicodeEncodeError, UnicodeDecodeError):
                return 400, {"error": "Request text is not valid Unicode"}, {}, None
        allowed = {r.method for r in _ROUTES if r.pattern.match(path)}
        if _STREAM.match(path):
            allowed.add("GET")
        if allowed:
            headers = {"Allow": ", ".join(sorted(allowed))}
            return 405, {"error": "Method not allowed"}, headers, None
        return 404, {"error": "Not found"}, {}, None

    def _open_stream(
        self, org_id: str, session_id: str
    ) -> tuple[int, Any, dict[str, str], Optional[Iterator[bytes]]]:
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT COALESCE(MAX(t.seq), 0) FROM sessions s LEFT JOIN turns t"
                " ON t.session_id = s.id WHERE s.id = ? AND s.org_id = ? GROUP BY s.id",
                (session_id, org_id),
            ).fetchone()
        if row is None:
            return 404, {"error": "Session not found"}, {}, None
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        return 200, None, headers, self._stream(session_id, int(row[0]))

    def _stream(self, session_id: str, last_seq: int) -> Iterator[bytes]:
        store = self.store
        last_ping = time.monotonic()
        yield b": connected\n\n"
        while not self._stopping.is_set() and not store.closed:
            version = store.version
            with store.read() as conn:
                rows = conn.execute(
                    f"SELECT {_TURN_COLS} FROM turns t WHERE t.session_id = ? AND t.seq > ?"
                    " ORDER BY t.seq",
                    (session_id, last_seq),
                ).fetchall()
                state = conn.execute(
                    "SELECT ended_at FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
            for turn in rows:
                last_seq = int(turn[10])
                yield b"data: " + _dumps(_turn(turn)).encode("utf-8") + b"\n\n"
            if state is None or state[0] is not None:
                event = {"__type": "session.ended", "sessionId": session_id}
                yield b"data: " + _dumps(event).encode("utf-8") + b"\n\n"
                return
            if time.monotonic() - last_ping > _SSE_PING_SECONDS:
                last_ping = time.monotonic()
                yield b": ping\n\n"
            with store.changed:
                if store.version == version and not self._stopping.is_set():
                    store.changed.wait(_SSE_POLL_SECONDS)


def _bearer(header: Optional[str]) -> Optional[str]:
    if not header or not header.startswith("Bearer "):
        return None
    token = header[7:].strip()
    return token or None


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of the range of a JSON number")
    return value


def _clamp_int(value: float) -> int:
    return int(max(-MAX_INT, min(MAX_INT, value)))


def _parse_body(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, RecursionError):
        return Response(400, {"error": "Malformed JSON body"})


def _idempotency_hash(org_id: str, key: str, method: str, path: str) -> int:
    # One integer key (the table's rowid): a single b-tree to touch per write.
    material = "\x00".join((org_id, method, path, key)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big", signed=True)


def _replay(conn: Conn, digest: int, org_id: str, key: str) -> Optional[tuple[int, Any]]:
    row = conn.execute(
        "SELECT status, body, created_at, org_id, key FROM idempotency WHERE hash = ?", (digest,)
    ).fetchone()
    if row is None or row[3] != org_id or row[4] != key:
        return None
    if time.time() - float(row[2]) > _IDEMPOTENCY_TTL_SECONDS:
        return None
    return int(row[0]), json.loads(row[1])
