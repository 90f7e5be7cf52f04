"""
Route handlers of ``/api/agents``.
"""

from __future__ import annotations

from typing import Any, Mapping

from provenant._json import compact_json
from provenant.server._handling import (
    Conn,
    Reply,
    load_agent,
)
from provenant.server._lazy import PAGE_SQL, Rows, page
from provenant.server._records import (
    AGENT_COLUMNS,
    agent_record,
)
from provenant.server._slug import slugify
from provenant.server._store import new_id, now_iso


def list_agents(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    sql = (
        f"SELECT {AGENT_COLUMNS} FROM agents a WHERE a.org_id = ?"
        f" ORDER BY a.updated_at DESC, a.seq DESC{PAGE_SQL}"
    )
    return 200, Rows(sql, (org, *page(q)), agent_record)


def _agent_detail(conn: Conn, row: Any) -> dict[str, Any]:
    out = agent_record(row)
    sessions = conn.execute("SELECT COUNT(*) FROM sessions WHERE agent_id = ?", (row[0],))
    runs = conn.execute("SELECT COUNT(*) FROM eval_runs WHERE agent_id = ?", (row[0],))
    out["versions"] = []
    out["_count"] = {
        "sessions": sessions.fetchone()[0],
        "versions": 0,
        "evalRuns": runs.fetchone()[0],
    }
    return out


def get_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    return 200, _agent_detail(conn, load_agent(conn, org, p[0]))


def _slug_taken(slug: str) -> Reply:
    return Reply(409, {"error": f"An agent with the slug '{slug}' already exists"})


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
            compact_json(body.get("tags", [])),
            body.get("modelFamily"),
            now,
            now,
        ),
    )
    return load_agent(conn, org, agent_id)


def create_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    slug = b["slug"]
    if conn.execute("SELECT 1 FROM agents WHERE org_id = ? AND slug = ?", (org, slug)).fetchone():
        raise _slug_taken(slug)
    return 201, agent_record(_insert_agent(conn, org, b, slug))


def get_or_create_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    slug = slugify(b["name"])
    row = conn.execute(
        f"SELECT {AGENT_COLUMNS} FROM agents a WHERE a.org_id = ? AND a.slug = ?", (org, slug)
    ).fetchone()
    if row is not None:
        return 200, agent_record(row)
    return 201, agent_record(_insert_agent(conn, org, b, slug))


def update_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    row = load_agent(conn, org, p[0])
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
        values.append(compact_json(b["tags"]))
    sets.append("updated_at = ?")
    values.append(now_iso())
    conn.execute(f"UPDATE agents SET {', '.join(sets)} WHERE id = ?", (*values, p[0]))
    return 200, _agent_detail(conn, load_agent(conn, org, p[0]))


def archive_agent(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    load_agent(conn, org, p[0])
    conn.execute(
        "UPDATE agents SET status = 'ARCHIVED', updated_at = ? WHERE id = ?", (now_iso(), p[0])
    )
    return 200, agent_record(load_agent(conn, org, p[0]))
