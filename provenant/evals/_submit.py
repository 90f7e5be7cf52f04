"""
Submitting a run's results: the wire form of each result, sent in bounded chunks.

The platform computes a run's ``passRate`` and ``score`` over all its results, so
results sent in several requests add up to the same figures as one request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

from provenant._json import compact_json
from provenant.evals._report import CaseResult
from provenant.tracing._payload import jsonable

if TYPE_CHECKING:
    from provenant.evals._client import EvalClient

__all__ = ["submit_all", "wire_output"]

# The contract caps a request body at 5 MB: results go in chunks well under it, and
# one output bigger than this is sent truncated, as text.
_MAX_CHUNK_BYTES = 2_000_000
_MAX_CHUNK_RESULTS = 500
_MAX_OUTPUT_BYTES = 1_000_000


def wire_output(output: Any) -> Any:
    """The output as JSON, as the platform stores it; an oversized one as truncated text."""
    value = jsonable(output)  # never raises: a cycle, NaN, a huge integer have JSON forms
    text = compact_json(value)
    if len(text) <= _MAX_OUTPUT_BYTES:
        return value
    # A string is cut as itself; anything else as its JSON text.
    shown = value if isinstance(value, str) else text
    return shown[:_MAX_OUTPUT_BYTES] + "... [truncated]"


def submit_all(client: EvalClient, run_id: str, results: Sequence[CaseResult]) -> None:
    """Send every result, in chunks that stay well under the 5 MB body limit."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for result in results:
        wire = _wire_result(result)
        wire_size = len(json.dumps(wire, default=repr))
        if chunk and (size + wire_size > _MAX_CHUNK_BYTES or len(chunk) >= _MAX_CHUNK_RESULTS):
            client.submit_results(run_id, chunk)
            chunk, size = [], 0
        chunk.append(wire)
        size += wire_size
    if chunk:
        client.submit_results(run_id, chunk)


def _wire_result(result: CaseResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {"scoringFn": result.scoring_fn, "weight": result.weight}
    if result.reason:
        metadata["reason"] = result.reason
    if result.session_external_id:
        metadata["sessionExternalId"] = result.session_external_id
    if result.cost_usd is not None or result.cost_partial:
        metadata["costUsd"] = result.cost_usd
        metadata["costPartial"] = result.cost_partial
    return {
        "caseId": result.case_id,
        "actualOutput": result.output,
        "passed": result.passed,
        "score": result.score,
        "latencyMs": result.latency_ms,
        "tokenCount": result.token_count,
        "error": result.error,
        "metadata": metadata,
    }
