"""
Rows of the store turned into the wire objects of the REST contract
(JSON-string columns kept as strings, as the platform sends them).
"""

from __future__ import annotations

from typing import Any

AGENT_COLUMNS = (
    "a.id, a.org_id, a.name, a.slug, a.description, a.tags, a.model_family, a.status,"
    " a.created_at, a.updated_at"
)
SESSION_COLUMNS = (
    "s.id, s.agent_id, s.agent_version_id, s.environment_id, s.external_id, s.user_id,"
    " s.metadata, s.tags, s.started_at, s.ended_at, s.total_tokens, s.total_latency_ms,"
    " s.status, s.created_at, s.updated_at"
)
TURN_COLUMNS = (
    "t.id, t.session_id, t.role, t.content, t.tool_calls, t.latency_ms, t.input_tokens,"
    " t.output_tokens, t.metadata, t.created_at, t.seq"
)
SUITE_COLUMNS = "e.id, e.org_id, e.name, e.description, e.tags, e.created_at, e.updated_at"
CASE_COLUMNS = (
    "c.id, c.suite_id, c.name, c.description, c.input, c.expected_output, c.scoring_fn,"
    " c.weight, c.tags, c.created_at, c.updated_at"
)
RUN_COLUMNS = (
    "r.id, r.org_id, r.suite_id, r.agent_id, r.agent_version_id, r.environment_id, r.status,"
    " r.pass_rate, r.score, r.metadata, r.started_at, r.completed_at, r.created_at,"
    " r.updated_at"
)
RESULT_COLUMNS = (
    "x.id, x.run_id, x.case_id, x.actual_output, x.score, x.passed, x.latency_ms,"
    " x.token_count, x.error, x.metadata, x.created_at"
)


def agent_record(row: Any) -> dict[str, Any]:
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


def session_record(row: Any) -> dict[str, Any]:
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


def turn_record(row: Any) -> dict[str, Any]:
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


def suite_record(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "orgId": row[1],
        "name": row[2],
        "description": row[3],
        "tags": row[4],
        "createdAt": row[5],
        "updatedAt": row[6],
    }


def case_record(row: Any) -> dict[str, Any]:
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


def run_record(row: Any) -> dict[str, Any]:
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


def result_record(row: Any) -> dict[str, Any]:
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
