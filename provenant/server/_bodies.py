"""
The request bodies of every write route, as validators.

The router validates with them and the OpenAPI document (``_openapi.py``) describes
them, so the two cannot disagree.
"""

from __future__ import annotations

from provenant.server._schema import (
    AnyArray,
    AnyJson,
    AnyObject,
    Body,
    Bool,
    Content,
    Field,
    Int,
    ListOf,
    Num,
    Str,
    StrList,
    Timestamp,
)

_ROLES = ("USER", "ASSISTANT", "SYSTEM", "TOOL")
_END_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
_SLUG_PATTERN = r"[a-z0-9-]+"


_AGENT_FIELDS: dict[str, tuple[Field, bool]] = {
    "name": (Str(min_length=1), True),
    "slug": (Str(min_length=1, pattern=_SLUG_PATTERN), True),
    "description": (Str(), False),
    "tags": (StrList(), False),
    "modelFamily": (Str(), False),
}

BODIES: dict[str, Body] = {
    "createAgent": Body(_AGENT_FIELDS),
    "getOrCreateAgent": Body({k: v for k, v in _AGENT_FIELDS.items() if k != "slug"}),
    "updateAgent": Body({k: (f, False) for k, (f, _) in _AGENT_FIELDS.items()}),
    "createSession": Body(
        {
            "agentId": (Str(), True),
            "agentVersionId": (Str(), False),
            "environmentId": (Str(), False),
            "externalId": (Str(), False),
            "userId": (Str(), False),
            "metadata": (AnyObject(), False),
            "tags": (StrList(), False),
        }
    ),
    "addTurn": Body(
        {
            "role": (Str(enum=_ROLES), True),
            "content": (Content(), True),
            "toolCalls": (AnyArray(), False),
            "latencyMs": (Int(), False),
            "inputTokens": (Int(), False),
            "outputTokens": (Int(), False),
            "metadata": (AnyObject(), False),
        }
    ),
    "endSession": Body(
        {
            "status": (Str(enum=_END_STATUSES), False),
            "totalTokens": (Int(), False),
            "totalLatencyMs": (Int(), False),
        }
    ),
    "updateSession": Body(
        {
            "status": (Str(enum=_END_STATUSES), False),
            "endedAt": (Timestamp(), False),
            "totalTokens": (Int(), False),
            "totalLatencyMs": (Int(), False),
            "externalId": (Str(), False),
            "userId": (Str(), False),
            "metadata": (AnyObject(), False),
            "tags": (StrList(), False),
        }
    ),
    "createSuite": Body(
        {
            "name": (Str(min_length=1), True),
            "description": (Str(), False),
            "tags": (StrList(), False),
        }
    ),
    "addCase": Body(
        {
            "name": (Str(min_length=1), True),
            "description": (Str(), False),
            "input": (AnyJson(), True),
            "expectedOutput": (AnyJson(), False),
            "scoringFn": (Str(min_length=1), False),
            "weight": (Num(), False),
            "tags": (StrList(), False),
        }
    ),
    "createRun": Body(
        {
            "suiteId": (Str(), True),
            "agentId": (Str(), True),
            "agentVersionId": (Str(), False),
            "environmentId": (Str(), False),
            "metadata": (AnyObject(), False),
        }
    ),
    "submitResults": Body(
        {
            "results": (
                ListOf(
                    Body(
                        {
                            "caseId": (Str(), True),
                            "actualOutput": (AnyJson(), False),
                            "score": (Num(), False),
                            "passed": (Bool(), False),
                            "latencyMs": (Int(), False),
                            "tokenCount": (Int(), False),
                            "error": (Str(), False),
                            "metadata": (AnyObject(), False),
                        }
                    ),
                    min_items=1,
                ),
                True,
            )
        }
    ),
}
