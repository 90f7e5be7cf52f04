"""
What every route handler shares: the error reply, JSON encoding, and the loaders
that answer 404 for another organisation's objects.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Mapping

from provenant.server._cost import add_costs
from provenant.server._records import (
    AGENT_COLUMNS,
    SESSION_COLUMNS,
    agent_record,
    session_record,
)


class Reply(Exception):
    """An error answer raised from inside a handler (rolls the transaction back)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def not_found(what: str = "Not found") -> Reply:
    return Reply(404, {"error": what})


# -- handlers -----------------------------------------------------------------------------

Conn = sqlite3.Connection
Handler = Callable[[Conn, str, "list[str]", Mapping[str, str], Any], "tuple[int, Any]"]


def load_agent(conn: Conn, org_id: str, agent_id: str, missing: str = "Agent not found") -> Any:
    row = conn.execute(
        f"SELECT {AGENT_COLUMNS} FROM agents a WHERE a.id = ? AND a.org_id = ?", (agent_id, org_id)
    ).fetchone()
    if row is None:
        raise not_found(missing)
    return row


def load_session(conn: Conn, org_id: str, session_id: str) -> Any:
    row = conn.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ? AND s.org_id = ?",
        (session_id, org_id),
    ).fetchone()
    if row is None:
        raise not_found("Session not found")
    return row


def session_with_agent(conn: Conn, org_id: str, row: Any) -> dict[str, Any]:
    out = session_record(row)
    agent = conn.execute(
        f"SELECT {AGENT_COLUMNS} FROM agents a WHERE a.id = ?", (row[1],)
    ).fetchone()
    out["agent"] = agent_record(agent) if agent is not None else None
    add_costs(conn, [out])
    return out
