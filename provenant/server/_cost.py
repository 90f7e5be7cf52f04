"""
A session's cost in the server's answers: ``costUsd`` and ``costPartial``, from its turns.

``costUsd`` is the sum of the turns' ``metadata.costUsd`` (numbers only; ``null`` when no
turn has one), the field the hosted platform answers on sessions. ``costPartial`` (this
server's own) is true when a turn says ``metadata.priceUnknown``: the sum leaves a call
out. Both are computed when asked, so a turn recorded after the session ended counts.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Dict, Sequence, Tuple

__all__ = ["add_costs"]

# Session id -> (costUsd or None, costPartial).
Costs = Dict[str, Tuple[Any, bool]]

# Ids per query: within SQLite's oldest limit on bound parameters (999).
_MAX_IDS = 500
# Only turns whose metadata names a cost field are read (most turns have none).
_CANDIDATES = (
    "session_id IN ({ids})"
    " AND (instr(metadata, '\"costUsd\"') > 0 OR instr(metadata, '\"priceUnknown\"') > 0)"
)
_SUMS = f"""
SELECT session_id,
       TOTAL(CASE WHEN json_type(metadata, '$.costUsd') IN ('integer', 'real')
                  THEN json_extract(metadata, '$.costUsd') END),
       COUNT(CASE WHEN json_type(metadata, '$.costUsd') IN ('integer', 'real') THEN 1 END),
       MAX(json_type(metadata, '$.priceUnknown') = 'true')
FROM turns WHERE {_CANDIDATES} AND json_valid(metadata)
GROUP BY session_id
"""


def _sums_in_sql(conn: sqlite3.Connection, ids: list[str]) -> Costs:
    rows = conn.execute(_SUMS.format(ids=", ".join("?" * len(ids))), ids).fetchall()
    return {row[0]: (row[1] if row[2] else None, bool(row[3])) for row in rows}


def _sums_in_python(conn: sqlite3.Connection, ids: list[str]) -> Costs:
    """The same sums, for an SQLite built without its JSON functions (before 3.38)."""
    sql = f"SELECT session_id, metadata FROM turns WHERE {_CANDIDATES} ORDER BY seq"
    sums: dict[str, list[Any]] = {}
    for session_id, text in conn.execute(sql.format(ids=", ".join("?" * len(ids))), ids):
        try:
            metadata = json.loads(text)
        except (TypeError, ValueError):
            continue
        if not isinstance(metadata, dict):
            continue
        total = sums.setdefault(session_id, [None, False])
        cost = metadata.get("costUsd")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            total[0] = (total[0] or 0.0) + cost
        total[1] = total[1] or metadata.get("priceUnknown") is True
    return {session_id: (total[0], total[1]) for session_id, total in sums.items()}


def add_costs(conn: sqlite3.Connection, sessions: Sequence[dict[str, Any]]) -> None:
    """Set ``costUsd`` and ``costPartial`` on each session record."""
    costs: Costs = {}
    ids = [session["id"] for session in sessions]
    for start in range(0, len(ids), _MAX_IDS):
        chunk = ids[start : start + _MAX_IDS]
        try:
            costs.update(_sums_in_sql(conn, chunk))
        except sqlite3.OperationalError:  # no such function: json_type
            costs.update(_sums_in_python(conn, chunk))
    for session in sessions:
        session["costUsd"], session["costPartial"] = costs.get(session["id"], (None, False))
