"""
The OpenAPI 3 document of the local server (``GET /api/docs/spec``).

Request bodies come from the router's own validators (:data:`~._bodies.BODIES`), so
what the document promises is what the server checks; response schemas are strict
(``additionalProperties: false``), so a schemathesis run proves the answers match.
"""

from __future__ import annotations

from typing import Any, Optional

from provenant._version import __version__
from provenant.server._session_list import SESSION_LIST_QUERY

__all__ = ["build_spec"]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_NINT = {"type": "integer", "nullable": True}
_NNUM = {"type": "number", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": "string", "format": "date-time", "nullable": True}
#: The JSON columns, stored as JSON text and answered decoded (as the hosted platform does).
_JSON_OBJECT = {"type": "object", "description": "a JSON object"}
_JSON_ARRAY = {"type": "array", "items": {}, "description": "a JSON array"}
#: An eval payload: an object or array decoded; a scalar stays its JSON text (``"\"Paris\""``,
#: ``"42"``), as the hosted platform answers it, so a client decodes a string here once.
_JSON_ANY = {
    "nullable": True,
    "description": "an object or array; a scalar as its JSON text (decode a string once)",
}
_CONTENT = {
    "oneOf": [{"type": "string"}, {"type": "object"}, {"type": "array", "items": {}}],
    "description": "text as recorded, or the object or array recorded",
}


def _schemas() -> dict[str, Any]:
    agent = {
        "id": _STR,
        "orgId": _STR,
        "name": _STR,
        "slug": _STR,
        "description": _NSTR,
        "tags": _JSON_ARRAY,
        "modelFamily": _NSTR,
        "status": {"type": "string", "enum": ["ACTIVE", "ARCHIVED"]},
        "createdAt": _TIME,
        "updatedAt": _TIME,
    }
    session = {
        "id": _STR,
        "agentId": _STR,
        "agentVersionId": _NSTR,
        "environmentId": _NSTR,
        "externalId": _NSTR,
        "userId": _NSTR,
        "metadata": _JSON_OBJECT,
        "tags": _JSON_ARRAY,
        "startedAt": _TIME,
        "endedAt": _NTIME,
        "totalTokens": _NINT,
        "totalLatencyMs": _NINT,
        # The sum of the turns' metadata.costUsd; costPartial: a turn's price is unknown.
        "costUsd": _NNUM,
        "costPartial": {"type": "boolean"},
        "status": {"type": "string", "enum": ["ACTIVE", "COMPLETED", "FAILED", "CANCELLED"]},
        "createdAt": _TIME,
        "updatedAt": _TIME,
    }
    turn = {
        "id": _STR,
        "sessionId": _STR,
        "role": {"type": "string", "enum": ["USER", "ASSISTANT", "SYSTEM", "TOOL"]},
        "content": _CONTENT,
        "toolCalls": _JSON_ARRAY,
        "latencyMs": _NINT,
        "inputTokens": _NINT,
        "outputTokens": _NINT,
        "metadata": _JSON_OBJECT,
        "createdAt": _TIME,
    }
    suite = {
        "id": _STR,
        "orgId": _STR,
        "name": _STR,
        "description": _NSTR,
        "tags": _JSON_ARRAY,
        "createdAt": _TIME,
        "updatedAt": _TIME,
    }
    case = {
        "id": _STR,
        "suiteId": _STR,
        "name": _STR,
        "description": _NSTR,
        "input": _JSON_ANY,
        "expectedOutput": _JSON_ANY,
        "scoringFn": _STR,
        "weight": {"type": "number"},
        "tags": _JSON_ARRAY,
        "createdAt": _TIME,
        "updatedAt": _TIME,
    }
    run = {
        "id": _STR,
        "orgId": _STR,
        "suiteId": _STR,
        "agentId": _STR,
        "agentVersionId": _NSTR,
        "environmentId": _NSTR,
        "status": {"type": "string", "enum": ["QUEUED", "RUNNING", "COMPLETED", "FAILED"]},
        # passed / all results; the score is a mean of unbounded result scores.
        "passRate": {**_NNUM, "minimum": 0, "maximum": 1},
        "score": _NNUM,
        "metadata": _JSON_OBJECT,
        "startedAt": _NTIME,
        "completedAt": _NTIME,
        "createdAt": _TIME,
        "updatedAt": _TIME,
    }
    result = {
        "id": _STR,
        "runId": _STR,
        "caseId": _STR,
        "actualOutput": _JSON_ANY,
        "score": _NNUM,
        "passed": {"type": "boolean"},
        "latencyMs": _NINT,
        "tokenCount": _NINT,
        "error": _NSTR,
        "metadata": _JSON_OBJECT,
        "createdAt": _TIME,
    }
    count = {"type": "integer", "minimum": 0}
    return {
        "Error": {
            "type": "object",
            "properties": {"error": _STR},
            "required": ["error"],
        },
        "ValidationError": {
            "type": "object",
            "properties": {
                "error": {"type": "string", "enum": ["Validation error"]},
                "issues": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "code": _STR,
                            "path": {"type": "array", "items": {}},
                            "message": _STR,
                        },
                        "required": ["code", "path", "message"],
                    },
                },
            },
            "required": ["error", "issues"],
        },
        "Health": _obj({"status": {"type": "string", "enum": ["ok"]}, "ts": _TIME}),
        "Agent": _obj(agent),
        "AgentDetail": _obj(
            {
                **agent,
                "versions": {"type": "array", "items": {"type": "object"}},
                "_count": _obj({"sessions": count, "versions": count, "evalRuns": count}),
            }
        ),
        "AgentStats": _obj(
            {
                **agent,
                "stats": _obj(
                    {
                        "sessions": count,
                        "turns": {"type": "integer"},
                        "inputTokens": {"type": "integer"},
                        "outputTokens": {"type": "integer"},
                        "activeSessions": {"type": "integer"},
                        "failedSessions": {"type": "integer"},
                        "lastSessionAt": {**_TIME, "nullable": True},
                    }
                ),
            }
        ),
        "Session": _obj({**session, "agent": _ref("Agent")}),
        "SessionListItem": _obj(
            {
                **session,
                "agent": _ref("Agent"),
                "_count": _obj({"turns": count}),
                "_sum": _obj(
                    {"inputTokens": {"type": "integer"}, "outputTokens": {"type": "integer"}}
                ),
            }
        ),
        "SessionDetail": _obj(
            {**session, "agent": _ref("Agent"), "turns": {"type": "array", "items": _ref("Turn")}}
        ),
        "Turn": _obj(turn),
        "Suite": _obj(suite),
        "SuiteListItem": _obj({**suite, "_count": _obj({"cases": count})}),
        "SuiteDetail": _obj({**suite, "cases": {"type": "array", "items": _ref("Case")}}),
        "Case": _obj(case),
        "Run": _obj(run),
        "RunDetail": _obj(
            {
                **run,
                "results": {
                    "type": "array",
                    "items": _obj({**result, "case": _ref("Case")}),
                },
            }
        ),
        "Success": _obj({"success": {"type": "boolean"}}),
        "Created": _obj({"created": count}),
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "Malformed JSON body"),
    "401": _json(_ref("Error"), "Missing, invalid or expired API key"),
    "404": _json(_ref("Error"), "Not found in the organisation of the key"),
    "409": _json(_ref("Error"), "The slug is taken in this organisation"),
    "413": _json(_ref("Error"), "Body over 5 MB"),
    "422": _json(_ref("ValidationError"), "Validation error"),
}


def _op(
    op_id: str,
    summary: str,
    tag: str,
    ok: tuple[str, dict[str, Any]],
    *,
    body: Optional[str] = None,
    errors: tuple[str, ...] = (),
    query: tuple[str, ...] = (),
    path_id: bool = False,
    extra_ok: Optional[tuple[str, dict[str, Any]]] = None,
    paged: bool = False,
) -> dict[str, Any]:
    from provenant.server._bodies import BODIES

    codes = {"401", "413", *errors}
    if body is not None:
        codes |= {"400", "422"}
    if path_id:
        codes.add("404")
    if paged:
        codes.add("422")
    responses: dict[str, Any] = {ok[0]: _json(ok[1], "Success")}
    if extra_ok is not None:
        responses[extra_ok[0]] = _json(extra_ok[1], "Success")
    for code in sorted(codes):
        responses[code] = _ERRORS[code]
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    parameters: list[dict[str, Any]] = []
    if path_id:
        parameters.append(
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
            }
        )
    parameters.extend(
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in query
    )
    if paged:
        parameters.extend(_PAGING)
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        schema = BODIES[body].schema()
        op["requestBody"] = {
            "required": bool(schema.get("required")),
            "content": {"application/json": {"schema": schema}},
        }
    return op


_PAGING = (
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "At most this many items (default: all)",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "Skip this many items first (default 0)",
        "schema": {"type": "integer", "minimum": 0},
    },
)


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def build_spec() -> dict[str, Any]:
    """
    Build the OpenAPI 3.0 document of every route the local server answers.

    Returns:
        The document as a JSON-ready dict.
    """
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, without authentication",
                "tags": ["meta"],
                "security": [],
                "responses": {"200": _json(_ref("Health"), "Alive")},
            }
        },
        "/api/docs/spec": {
            "get": {
                "operationId": "spec",
                "summary": "This document",
                "tags": ["meta"],
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
            }
        },
        "/api/agents": {
            "get": _op(
                "listAgents",
                "List agents, newest first",
                "agents",
                ("200", _list("Agent")),
                paged=True,
            ),
            "post": _op(
                "createAgent",
                "Create an agent",
                "agents",
                ("201", _ref("Agent")),
                body="createAgent",
                errors=("409",),
            ),
        },
        "/api/agents/get-or-create": {
            "post": _op(
                "getOrCreateAgent",
                "The agent with this name's slug, created when missing",
                "agents",
                ("200", _ref("Agent")),
                extra_ok=("201", _ref("Agent")),
                body="getOrCreateAgent",
            )
        },
        "/api/agents/{id}": {
            "get": _op(
                "getAgent", "An agent", "agents", ("200", _ref("AgentDetail")), path_id=True
            ),
            "patch": _op(
                "updateAgent",
                "Change an agent",
                "agents",
                ("200", _ref("AgentDetail")),
                body="updateAgent",
                errors=("409",),
                path_id=True,
            ),
            "delete": _op(
                "archiveAgent", "Archive an agent", "agents", ("200", _ref("Agent")), path_id=True
            ),
        },
        "/api/sessions": {
            "get": _op(
                "listSessions",
                "Up to 100 sessions, newest first (or as limit, offset, sort and order ask)",
                "sessions",
                ("200", _list("SessionListItem")),
                errors=("422",),
                query=SESSION_LIST_QUERY,
            ),
            "post": _op(
                "createSession",
                "Start a session",
                "sessions",
                ("201", _ref("Session")),
                body="createSession",
                errors=("404",),
            ),
        },
        "/api/sessions/{id}": {
            "get": _op(
                "getSession",
                "A session with its turns in order (limit and offset page the turns)",
                "sessions",
                ("200", _ref("SessionDetail")),
                path_id=True,
                paged=True,
            ),
            "patch": _op(
                "updateSession",
                "Change or end a session (the older SDKs' way of ending)",
                "sessions",
                ("200", _ref("Session")),
                body="updateSession",
                path_id=True,
            ),
            "delete": _op(
                "deleteSession",
                "Delete a session and its turns",
                "sessions",
                ("200", _ref("Success")),
                path_id=True,
            ),
        },
        "/api/sessions/{id}/turns": {
            "post": _op(
                "addTurn",
                "Add a turn",
                "sessions",
                ("201", _ref("Turn")),
                body="addTurn",
                path_id=True,
            )
        },
        "/api/sessions/{id}/end": {
            "post": _op(
                "endSession",
                "End a session",
                "sessions",
                ("200", _ref("Session")),
                body="endSession",
                path_id=True,
            )
        },
        "/api/sessions/{id}/stream": {
            "get": {
                **_op(
                    "streamSession",
                    "Server-Sent Events: each new turn, then a session.ended event",
                    "sessions",
                    ("200", {"type": "string"}),
                    path_id=True,
                ),
            }
        },
        "/api/stats/agents": {
            "get": _op(
                "agentStats",
                "Every agent with its session count and token totals (local server only)",
                "agents",
                ("200", _list("AgentStats")),
            )
        },
        "/api/evals/suites": {
            "get": _op(
                "listSuites", "Eval suites", "evals", ("200", _list("SuiteListItem")), paged=True
            ),
            "post": _op(
                "createSuite",
                "Create a suite",
                "evals",
                ("201", _ref("Suite")),
                body="createSuite",
            ),
        },
        "/api/evals/suites/{id}": {
            "get": _op(
                "getSuite",
                "A suite with its cases",
                "evals",
                ("200", _ref("SuiteDetail")),
                path_id=True,
            )
        },
        "/api/evals/suites/{id}/cases": {
            "post": _op(
                "addCase",
                "Add a case",
                "evals",
                ("201", _ref("Case")),
                body="addCase",
                path_id=True,
            )
        },
        "/api/evals/runs": {
            "get": _op(
                "listRuns",
                "Eval runs",
                "evals",
                ("200", _list("Run")),
                query=("agentId", "suiteId"),
                paged=True,
            ),
            "post": _op(
                "createRun",
                "Start a run (QUEUED)",
                "evals",
                ("201", _ref("Run")),
                body="createRun",
                errors=("404",),
            ),
        },
        "/api/evals/runs/{id}": {
            "get": _op(
                "getRun",
                "A run with its results",
                "evals",
                ("200", _ref("RunDetail")),
                path_id=True,
            )
        },
        "/api/evals/runs/{id}/results": {
            "post": _op(
                "submitResults",
                "Submit results; the run becomes COMPLETED",
                "evals",
                ("200", _ref("Created")),
                body="submitResults",
                path_id=True,
            )
        },
    }
    stream = paths["/api/sessions/{id}/stream"]["get"]
    stream["responses"]["200"] = {
        "description": "An event stream",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Provenant API (local server)",
            "version": __version__,
            "description": "The Provenant REST contract as `provenant serve` answers it.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
    }
