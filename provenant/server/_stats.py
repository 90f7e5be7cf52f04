"""
``GET /api/stats/agents``: each agent's session count and token totals (the viewer's
agents page). A local-server route; the hosted platform has no such call.
"""

from __future__ import annotations

from typing import Any, Mapping

from provenant._wire import clamp_int
from provenant.server._handling import Conn
from provenant.server._records import AGENT_COLUMNS, agent_record

__all__ = ["agent_stats"]


def agent_stats(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    """Every agent of the org with ``stats``: sessions (and by status), turns, tokens."""
    rows = conn.execute(
        f"SELECT {AGENT_COLUMNS}, COUNT(s.seq), TOTAL(s.n_turns), TOTAL(s.sum_input_tokens),"
        " TOTAL(s.sum_output_tokens), TOTAL(s.status = 'ACTIVE'), TOTAL(s.status = 'FAILED'),"
        " MAX(s.started_at)"
        " FROM agents a LEFT JOIN sessions s ON s.org_id = a.org_id AND s.agent_id = a.id"
        " WHERE a.org_id = ? GROUP BY a.id ORDER BY MAX(s.started_at) DESC, a.seq DESC",
        (org,),
    ).fetchall()
    out = []
    for row in rows:
        item = agent_record(row[:10])
        item["stats"] = {
            "sessions": int(row[10]),
            "turns": clamp_int(row[11]),
            "inputTokens": clamp_int(row[12]),
            "outputTokens": clamp_int(row[13]),
            "activeSessions": clamp_int(row[14]),
            "failedSessions": clamp_int(row[15]),
            "lastSessionAt": row[16],
        }
        out.append(item)
    return 200, out
