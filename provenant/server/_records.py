"""
Rows of the store turned into the wire objects of the REST contract.

The store keeps ``metadata``, ``tags``, ``toolCalls``, non-string turn ``content`` and
the eval payloads as JSON text; answers carry them decoded, as the hosted platform
sends them: a column holding a JSON object or array becomes that value, once, and
nothing inside it is parsed again. A column holding a JSON scalar (an eval output
``"Paris"`` or ``42``) stays its JSON text, as on the hosted platform, whose answers
parse only what looks like an object or array: a client decodes such a string once
whichever server it reads. Turn content is text unless the row says it is JSON
(``turns.content_json``; rows written by an SDK older than that column tell by their
look, as clients always read them).
"""

from __future__ import annotations

import json
from typing import Any, Optional

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
    " t.output_tokens, t.metadata, t.created_at, t.seq, t.content_json"
)
SUITE_COLUMNS = "e.id, e.org_id, e.name, e.description, e.tags, e.created_at, e.updated_at"
CASE_COLUMNS = (
    "c.id, c.suite_id, c.name, c.description, c.input, c.expected_output, c.scoring_fn,"
    " c.weight, c.tags, c.created_at, c.updated_at"
)
#: :data:`TURN_COLUMNS` and whether the row's JSON text can be sent as it is stored
#: (it parses, and the content is known to be JSON or text): :func:`turn_json`'s rows.
TURN_JSON_COLUMNS = (
    TURN_COLUMNS + ", t.content_json IS NOT NULL AND json_valid(t.tool_calls)"
    " AND json_valid(t.metadata) AND (t.content_json = 0 OR json_valid(t.content))"
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


def json_column(text: Optional[str]) -> Any:
    """A JSON column as an answer carries it: an object or array decoded, else as stored."""
    if text is None or text[:1] not in ("{", "["):
        return text
    try:
        return json.loads(text)
    except ValueError:  # not written by this server: shown as it is
        return text


def turn_content(text: str, is_json: Optional[int]) -> Any:
    """A turn's content: text as recorded, or the JSON value the row says it holds.

    ``is_json`` is ``None`` for a row written by an older SDK: content that parses as a
    JSON object or array is then taken for one, as every client read it before."""
    if is_json == 0:
        return text
    return json_column(text)


def agent_record(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "orgId": row[1],
        "name": row[2],
        "slug": row[3],
        "description": row[4],
        "tags": json_column(row[5]),
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
        "metadata": json_column(row[6]),
        "tags": json_column(row[7]),
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
        "content": turn_content(row[3], row[11]),
        "toolCalls": json_column(row[4]),
        "latencyMs": row[5],
        "inputTokens": row[6],
        "outputTokens": row[7],
        "metadata": json_column(row[8]),
        "createdAt": row[9],
    }


_encode = json.JSONEncoder().encode


def turn_json(row: Any) -> bytes:
    """
    :func:`turn_record` of a :data:`TURN_JSON_COLUMNS` row, encoded as JSON.

    The JSON columns go out as the text they are stored as, neither parsed nor encoded
    again: a long list of turns costs about what it did when they were sent as strings.
    A row whose text does not parse, or whose content is of unknown kind, is decoded.
    """
    if not row[12]:
        return _encode(turn_record(row)).encode()
    head = _encode(
        {
            "id": row[0],
            "sessionId": row[1],
            "role": row[2],
            "latencyMs": row[5],
            "inputTokens": row[6],
            "outputTokens": row[7],
            "createdAt": row[9],
        }
    )
    content = row[3] if row[11] else _encode(row[3])
    return (
        f'{head[:-1]}, "content": {content}, "toolCalls": {row[4]}, "metadata": {row[8]}}}'
    ).encode()


def suite_record(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "orgId": row[1],
        "name": row[2],
        "description": row[3],
        "tags": json_column(row[4]),
        "createdAt": row[5],
        "updatedAt": row[6],
    }


def case_record(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "suiteId": row[1],
        "name": row[2],
        "description": row[3],
        "input": json_column(row[4]),
        "expectedOutput": json_column(row[5]),
        "scoringFn": row[6],
        "weight": row[7],
        "tags": json_column(row[8]),
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
        "metadata": json_column(row[9]),
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
        "actualOutput": json_column(row[3]),
        "score": row[4],
        "passed": bool(row[5]),
        "latencyMs": row[6],
        "tokenCount": row[7],
        "error": row[8],
        "metadata": json_column(row[9]),
        "createdAt": row[10],
    }
