"""
``GET /api/sessions``: filters, sorting and paging over the session index.

A client that asks nothing gets what the contract promises: at most 100 sessions, newest
``startedAt`` first. The extra query parameters (documented in ``docs/rest-api.md``)::

    limit=1..1000  offset=N  sort=startedAt|endedAt|agent|userId|externalId|status|
    turns|inputTokens|outputTokens|totalTokens|duration  order=desc|asc
    agentId  environmentId  status  userId  externalId  startedAfter  startedBefore  q

The page is chosen on the index alone (``SELECT seq ... LIMIT ? OFFSET ?``), then only its
rows are read whole; ``X-Total-Count`` answers how many sessions match when asked
(``total=true``).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from provenant._wire import clamp_int
from provenant.server._handling import Conn, Reply
from provenant.server._records import AGENT_COLUMNS, SESSION_COLUMNS, agent_record, session_record
from provenant.server._session_index import fts_available

__all__ = ["MAX_LIMIT", "SESSION_LIST_QUERY", "SORT_KEYS", "TOTAL_CAP", "list_sessions_page"]

_DEFAULT_LIMIT = 100
#: The largest page a client may ask for.
MAX_LIMIT = 1000
_MAX_OFFSET = 10_000_000
_DURATION = "(julianday(s.ended_at) - julianday(s.started_at))"
_SORTS = {
    "startedAt": "s.started_at",
    "endedAt": "s.ended_at",
    "agent": "(SELECT a.name FROM agents a WHERE a.id = s.agent_id)",  # not indexed
    "userId": "s.user_id",
    "externalId": "s.external_id",
    "status": "s.status",
    "turns": "s.n_turns",
    "inputTokens": "s.sum_input_tokens",
    "outputTokens": "s.sum_output_tokens",
    "totalTokens": "s.total_tokens",
    "duration": _DURATION,
}
#: The values ``sort`` accepts.
SORT_KEYS = tuple(_SORTS)
_EQUAL_FILTERS = (
    ("agentId", "s.agent_id"),
    ("environmentId", "s.environment_id"),
    ("status", "s.status"),
    ("userId", "s.user_id"),
    ("externalId", "s.external_id"),
)
#: Every query parameter the list reads (for the OpenAPI document).
SESSION_LIST_QUERY = (
    *(key for key, _ in _EQUAL_FILTERS),
    "parentSessionId",
    "startedAfter",
    "startedBefore",
    "q",
    "sort",
    "order",
    "limit",
    "offset",
    "total",
)
# An ISO-8601 UTC time, or a prefix of one (a day, a minute): compared as text, which
# orders the way time does for the contract's fixed format.
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,3})?)?)?Z?)?$")
_TRIGRAM = 3
# Above this many candidate turns from the index, a search walks the sessions instead.
_INDEXED_SEARCH_MAX = 2000
#: A search's total is counted up to this many sessions (``X-Total-Count-Capped``).
TOTAL_CAP = 1000
_PARENT = "CASE WHEN json_valid(s.metadata) THEN json_extract(s.metadata, '$.parentSessionId') END"


def _issue(name: str, message: str) -> dict[str, Any]:
    return {"code": "invalid_query", "path": ["query", name], "message": message}


def _integer(q: Mapping[str, str], name: str, default: int, low: int, high: int) -> Any:
    text = q.get(name)
    if text is None or text == "":
        return default
    if not re.fullmatch(r"\d{1,9}", text) or not low <= int(text) <= high:
        return _issue(name, f"{name} must be an integer from {low} to {high}")
    return int(text)


def _fts_query(text: str) -> str:
    """Trigrams covering ``text`` (every third one, and the last), all required."""
    starts = list(range(0, len(text) - _TRIGRAM + 1, _TRIGRAM))
    if starts[-1] != len(text) - _TRIGRAM:
        starts.append(len(text) - _TRIGRAM)
    terms = ['"' + text[i : i + _TRIGRAM].replace('"', '""') + '"' for i in starts]
    return " AND ".join(terms)


def _search(conn: Conn, text: str, where: list[str], args: list[Any]) -> bool:
    # The contract's test (a substring of a turn's content, case as given) decides. The
    # trigram index narrows a rare text to a few candidate turns (turns the background
    # indexer has not reached yet, above indexed_seq, are checked too); their sessions
    # are resolved first and named to the page query, which then reads only those. A
    # common text is faster found by walking sessions newest first and stopping at a
    # page, so with many candidates the query does that instead.
    if len(text) >= _TRIGRAM and "\x00" not in text and fts_available(conn):
        match = _fts_query(text)
        candidates = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM turns_fts WHERE turns_fts MATCH ? LIMIT ?)",
            (match, _INDEXED_SEARCH_MAX + 1),
        ).fetchone()[0]
        if candidates <= _INDEXED_SEARCH_MAX:
            found = conn.execute(
                "SELECT s.seq FROM turns t JOIN sessions s ON s.id = t.session_id"
                " WHERE t.seq IN (SELECT rowid FROM turns_fts WHERE turns_fts MATCH ?)"
                " AND instr(t.content, ?) > 0",
                (match, text),
            ).fetchall()
            tail = conn.execute(
                "SELECT s.seq FROM turns t JOIN sessions s ON s.id = t.session_id"
                " WHERE t.seq > (SELECT indexed_seq FROM turns_fts_state WHERE id = 1)"
                " AND instr(t.content, ?) > 0 LIMIT ?",
                (text, _INDEXED_SEARCH_MAX + 1),
            ).fetchall()
            if len(tail) <= _INDEXED_SEARCH_MAX:
                seqs = sorted({int(row[0]) for row in found} | {int(row[0]) for row in tail})
                # Integers read from the store, written into the statement: no parameter
                # limit to meet, and the planner sees a short list of rowids.
                where.append(f"s.seq IN ({','.join(map(str, seqs))})" if seqs else "0")
                return True
    where.append(
        "EXISTS (SELECT 1 FROM turns t WHERE t.session_id = s.id AND instr(t.content, ?) > 0)"
    )
    args.append(text)
    return False


def _parse(conn: Conn, org: str, q: Mapping[str, str]) -> tuple[str, list[Any], str, int, int]:
    issues: list[dict[str, Any]] = []
    where = ["s.org_id = ?"]
    args: list[Any] = [org]
    for key, column in _EQUAL_FILTERS:
        if q.get(key):
            where.append(f"{column} = ?")
            args.append(q[key])
    if q.get("parentSessionId"):
        # Child sessions name their parent in metadata (an expression index serves this).
        where.append(f"{_PARENT} = ?")
        args.append(q["parentSessionId"])
    for key, op in (("startedAfter", ">="), ("startedBefore", "<")):
        value = q.get(key)
        if not value:
            continue
        if _TIME.match(value) is None:
            issues.append(_issue(key, f"{key} must be an ISO-8601 UTC time"))
            continue
        where.append(f"s.started_at {op} ?")
        args.append(value)
    if q.get("q") and _search(conn, q["q"], where, args):
        # The search named its few sessions: keep the planner off the org's indexes (a
        # unary + hides a column from them), so it reads those rows, not every session.
        where[:-1] = ["+" + term for term in where[:-1]]
    sort = q.get("sort") or "startedAt"
    if sort not in _SORTS:
        issues.append(_issue("sort", "sort must be one of " + ", ".join(_SORTS)))
        sort = "startedAt"
    order = (q.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        issues.append(_issue("order", "order must be asc or desc"))
    limit = _integer(q, "limit", _DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _integer(q, "offset", 0, 0, _MAX_OFFSET)
    issues.extend(value for value in (limit, offset) if isinstance(value, dict))
    if issues:
        raise Reply(422, {"error": "Validation error", "issues": issues})
    direction = "ASC" if order == "asc" else "DESC"
    # Ties go newest first (or oldest, ascending), as the indexes of the columns are laid
    # out, so a sort by status, user, end time... reads its index in order and stops.
    order_by = f"s.started_at {direction}, s.seq {direction}"
    if sort != "startedAt":
        order_by = f"{_SORTS[sort]} {direction}, {order_by}"
    return " AND ".join(where), args, order_by, limit, offset


def list_sessions_page(
    conn: Conn, org: str, q: Mapping[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """
    One page of the org's sessions as the query asks, and its response headers
    (``X-Total-Count`` when asked, ``X-Total-Count-Capped`` when a search's count stopped).

    Raises:
        Reply: 422 with ``issues`` for a parameter out of its range.
    """
    where, args, order_by, limit, offset = _parse(conn, org, q)
    seqs = [
        int(row[0])
        for row in conn.execute(
            f"SELECT s.seq FROM sessions s WHERE {where} ORDER BY {order_by} LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
    ]
    headers: dict[str, str] = {}
    if (q.get("total") or "").lower() in ("1", "true"):
        count = f"SELECT COUNT(*) FROM sessions s WHERE {where}"
        if q.get("q"):  # a search of a common text would check every turn: count a bound
            count = f"SELECT COUNT(*) FROM (SELECT 1 FROM sessions s WHERE {where} LIMIT ?)"
            args = [*args, TOTAL_CAP + 1]
        total = int(conn.execute(count, args).fetchone()[0])
        headers["X-Total-Count"] = str(min(total, TOTAL_CAP) if q.get("q") else total)
        if q.get("q") and total > TOTAL_CAP:
            headers["X-Total-Count-Capped"] = "true"
    if not seqs:
        return [], headers
    marks = ",".join("?" * len(seqs))
    rows = conn.execute(
        f"SELECT s.seq, {SESSION_COLUMNS}, {AGENT_COLUMNS},"
        " s.n_turns, s.sum_input_tokens, s.sum_output_tokens"
        f" FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE s.seq IN ({marks})",
        seqs,
    ).fetchall()
    by_seq = {int(row[0]): row for row in rows}
    out = []
    for seq in seqs:
        row = by_seq.get(seq)
        if row is None:
            continue
        item = session_record(row[1:16])
        item["agent"] = agent_record(row[16:26])
        item["_count"] = {"turns": clamp_int(row[26])}
        item["_sum"] = {"inputTokens": clamp_int(row[27]), "outputTokens": clamp_int(row[28])}
        out.append(item)
    return out, headers
