"""
A session's cost in the server's answers: ``costUsd`` and ``costPartial``, from its turns.

``costUsd`` is the sum of the turns' ``metadata.costUsd`` (numbers only; ``null`` when no
turn has one), the field the hosted platform answers on sessions. ``costPartial`` (this
server's own) is true when a turn says ``metadata.priceUnknown``: the sum leaves a call
out. Both are computed when asked, so a turn recorded after the session ended counts.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

__all__ = ["add_costs"]

# Ids per query: within SQLite's oldest limit on bound parameters (999).
_MAX_IDS = 500
# Only turns whose metadata names a cost field are parsed (most turns have none).
_COSTS = """
SELECT session_id,
       TOTAL(CASE WHEN json_type(metadata, '$.costUsd') IN ('integer', 'real')
                  THEN json_extract(metadata, '$.costUsd') END),
       COUNT(CASE WHEN json_type(metadata, '$.costUsd') IN ('integer', 'real') THEN 1 END),
       MAX(json_type(metadata, '$.priceUnknown') = 'true')
FROM turns
WHERE session_id IN ({ids})
  AND (instr(metadata, '"costUsd"') > 0 OR instr(metadata, '"priceUnknown"') > 0)
  AND json_valid(metadata)
GROUP BY session_id
"""


def add_costs(conn: sqlite3.Connection, sessions: Sequence[dict[str, Any]]) -> None:
    """Set ``costUsd`` and ``costPartial`` on each session record, in one query."""
    costs: dict[str, tuple[Any, bool]] = {}
    ids = [session["id"] for session in sessions]
    for start in range(0, len(ids), _MAX_IDS):
        chunk = ids[start : start + _MAX_IDS]
        rows = conn.execute(_COSTS.format(ids=", ".join("?" * len(chunk))), chunk).fetchall()
        costs.update((row[0], (row[1] if row[2] else None, bool(row[3]))) for row in rows)
    for session in sessions:
        session["costUsd"], session["costPartial"] = costs.get(session["id"], (None, False))
