"""
Route handlers of ``/api/evals``: suites, cases, runs and results.
"""

from __future__ import annotations

from typing import Any, Mapping

from provenant._json import compact_json
from provenant.server._handling import (
    Conn,
    Reply,
    load_agent,
    not_found,
)
from provenant.server._lazy import PAGE_SQL, Rows, page
from provenant.server._records import (
    CASE_COLUMNS,
    RESULT_COLUMNS,
    RUN_COLUMNS,
    SUITE_COLUMNS,
    case_record,
    result_record,
    run_record,
    suite_record,
)
from provenant.server._store import new_id, now_iso


def _load_suite(conn: Conn, org: str, suite_id: str) -> Any:
    row = conn.execute(
        f"SELECT {SUITE_COLUMNS} FROM eval_suites e WHERE e.id = ? AND e.org_id = ?",
        (suite_id, org),
    ).fetchone()
    if row is None:
        raise not_found()
    return row


def list_suites(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    sql = (
        f"SELECT {SUITE_COLUMNS}, (SELECT COUNT(*) FROM eval_cases c WHERE c.suite_id = e.id)"
        f" FROM eval_suites e WHERE e.org_id = ? ORDER BY e.created_at DESC, e.seq DESC{PAGE_SQL}"
    )
    return 200, Rows(sql, (org, *page(q)), _suite_with_count)


def _suite_with_count(row: Any) -> dict[str, Any]:
    item = suite_record(row)
    item["_count"] = {"cases": row[7]}
    return item


def create_suite(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    now = now_iso()
    suite_id = new_id()
    conn.execute(
        "INSERT INTO eval_suites (id, org_id, name, description, tags, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (suite_id, org, b["name"], b.get("description"), compact_json(b.get("tags", [])), now, now),
    )
    return 201, suite_record(_load_suite(conn, org, suite_id))


def get_suite(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    out: dict[str, Any] = suite_record(_load_suite(conn, org, p[0]))
    sql = f"SELECT {CASE_COLUMNS} FROM eval_cases c WHERE c.suite_id = ? ORDER BY c.seq"
    out["cases"] = Rows(sql, (p[0],), case_record)
    return 200, out


def add_case(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
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
            compact_json(b["input"]),
            compact_json(expected) if expected is not None else None,
            b.get("scoringFn", "exact_match"),
            b.get("weight", 1.0),
            compact_json(b.get("tags", [])),
            now,
            now,
        ),
    )
    row = conn.execute(f"SELECT {CASE_COLUMNS} FROM eval_cases c WHERE c.id = ?", (case_id,))
    return 201, case_record(row.fetchone())


def _load_run(conn: Conn, org: str, run_id: str) -> Any:
    row = conn.execute(
        f"SELECT {RUN_COLUMNS} FROM eval_runs r WHERE r.id = ? AND r.org_id = ?", (run_id, org)
    ).fetchone()
    if row is None:
        raise not_found()
    return row


def create_run(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    _load_suite(conn, org, b["suiteId"])
    load_agent(conn, org, b["agentId"])
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
            compact_json(b.get("metadata", {})),
            now,
            now,
        ),
    )
    return 201, run_record(_load_run(conn, org, run_id))


def list_runs(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    where = ["r.org_id = ?"]
    args: list[Any] = [org]
    for key, column in (("agentId", "r.agent_id"), ("suiteId", "r.suite_id")):
        if q.get(key):
            where.append(f"{column} = ?")
            args.append(q[key])
    sql = (
        f"SELECT {RUN_COLUMNS} FROM eval_runs r WHERE {' AND '.join(where)}"
        f" ORDER BY r.created_at DESC, r.seq DESC{PAGE_SQL}"
    )
    return 200, Rows(sql, (*args, *page(q)), run_record)


def get_run(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
    out: dict[str, Any] = run_record(_load_run(conn, org, p[0]))
    sql = (
        f"SELECT {RESULT_COLUMNS}, {CASE_COLUMNS} FROM eval_results x"
        " JOIN eval_cases c ON c.id = x.case_id WHERE x.run_id = ? ORDER BY x.seq"
    )
    out["results"] = Rows(sql, (p[0],), _result_with_case)
    return 200, out


def _result_with_case(row: Any) -> dict[str, Any]:
    item = result_record(row[:11])
    item["case"] = case_record(row[11:])
    return item


def submit_results(conn: Conn, org: str, p: list[str], q: Mapping[str, str], b: Any) -> Any:
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
        raise Reply(422, {"error": "Validation error", "issues": issues})
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
                compact_json(output) if output is not None else None,
                result.get("score"),
                1 if result.get("passed") else 0,
                result.get("latencyMs"),
                result.get("tokenCount"),
                result.get("error"),
                compact_json(result.get("metadata", {})),
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
