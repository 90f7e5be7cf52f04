"""
The eval suites', runs' and results' REST methods of :class:`provenant.ProvenantClient`.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Optional, Sequence

from provenant._rest._base import RestCalls, drop_none, listed, segment
from provenant.errors import EvalTimeoutError
from provenant.tracing._arguments import check_arguments

__all__ = ["EvalsApi"]

_TERMINAL_RUN_STATUSES = ("COMPLETED", "FAILED")
_MAX_POLL_INTERVAL_S = 10.0

# Result keys a caller may pass to submit_results, by the wire name they map to.
_RESULT_KEYS = {
    "caseId": "caseId",
    "case_id": "caseId",
    "actualOutput": "actualOutput",
    "actual_output": "actualOutput",
    "output": "actualOutput",
    "score": "score",
    "passed": "passed",
    "latencyMs": "latencyMs",
    "latency_ms": "latencyMs",
    "tokenCount": "tokenCount",
    "token_count": "tokenCount",
    "error": "error",
    "metadata": "metadata",
}


def _normalise_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """Map a caller's result dict to the wire's field names, losing nothing."""
    wire: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in result.items():
        target = _RESULT_KEYS.get(key)
        if target is None:
            extra[key] = value
            continue
        if target in wire and wire[target] != value:
            raise ValueError(
                f"result gives {target} twice with different values (as {key!r} too); "
                "pass only one of 'output' and 'actualOutput'."
            )
        wire[target] = value
    if "caseId" not in wire:
        raise ValueError(f"every result needs a caseId; got keys {sorted(result)}.")
    if extra:
        given = wire.get("metadata")
        if isinstance(given, Mapping):
            metadata = dict(given)
        else:
            metadata = {} if given is None else {"metadata": given}
        for key, value in extra.items():
            if key in metadata and metadata[key] != value:
                raise ValueError(
                    f"result key {key!r} is not a wire field and clashes with metadata[{key!r}]."
                )
            metadata[key] = value
        wire["metadata"] = metadata
    return wire


class EvalsApi(RestCalls):
    """Eval suites and cases, runs, their results, and waiting for a run."""

    def list_eval_suites(self) -> list[dict[str, Any]]:
        """
        List the eval suites of your organisation.

        .. versionadded:: 0.1
        """
        suites: list[dict[str, Any]] = self._request("GET", "/api/evals/suites")
        return suites

    def get_eval_suite(self, suite_id: str) -> dict[str, Any]:
        """
        Fetch a suite with its ``cases``.

        .. versionadded:: 0.1
        """
        suite: dict[str, Any] = self._request("GET", f"/api/evals/suites/{segment(suite_id)}")
        return suite

    def create_eval_suite(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        """
        Create an eval suite.

        .. versionadded:: 0.1
        """
        tags = listed(tags)
        check_arguments(
            "create_eval_suite()", {"name": name, "description": description, "tags": tags}
        )
        body = drop_none({"name": name, "description": description, "tags": tags})
        suite: dict[str, Any] = self._request("POST", "/api/evals/suites", body=body, write=True)
        return suite

    def add_eval_case(
        self,
        suite_id: str,
        name: str,
        input: Any,
        expected_output: Any = None,
        *,
        scoring_fn: Optional[str] = None,
        weight: Optional[float] = None,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        """
        Add a case to a suite.

        Args:
            suite_id: The suite's id.
            name: The case's name.
            input: A JSON object given to the task.
            expected_output: A JSON object the output is scored against.
            scoring_fn: ``exact_match`` (server default), ``contains``, ``json_match``, ``regex``.
            weight: The case's weight in the score (1.0).
            description: Free text.
            tags: A list of strings.

        .. versionadded:: 0.1
        """
        tags = listed(tags)
        check_arguments(
            "add_eval_case()",
            {
                "suite_id": suite_id,
                "name": name,
                "scoring_fn": scoring_fn,
                "description": description,
                "tags": tags,
            },
        )
        body = drop_none(
            {
                "name": name,
                "input": input,
                "expectedOutput": expected_output,
                "scoringFn": scoring_fn,
                "weight": weight,
                "description": description,
                "tags": tags,
            }
        )
        case: dict[str, Any] = self._request(
            "POST", f"/api/evals/suites/{segment(suite_id)}/cases", body=body, write=True
        )
        return case

    def create_eval_run(
        self,
        suite_id: str,
        agent_id: str,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]:
        """
        Start an eval run of a suite for an agent (status ``QUEUED``).

        Args:
            suite_id: The suite's id.
            agent_id: The agent's id (a name is resolved with get-or-create).
            agent_version_id: Optional version id.
            environment_id: Optional environment id.
            metadata: A JSON object.

        .. versionadded:: 0.1
        """
        check_arguments(
            "create_eval_run()",
            {
                "suite_id": suite_id,
                "agent_id": agent_id,
                "agent_version_id": agent_version_id,
                "environment_id": environment_id,
                "metadata": metadata,
            },
        )
        body = drop_none(
            {
                "suiteId": suite_id,
                "agentId": self._agent_id(agent_id),
                "agentVersionId": agent_version_id,
                "environmentId": environment_id,
                "metadata": dict(metadata) if metadata is not None else None,
            }
        )
        run: dict[str, Any] = self._request("POST", "/api/evals/runs", body=body, write=True)
        return run

    def get_eval_run(self, run_id: str) -> dict[str, Any]:
        """
        Fetch a run with its ``results`` (each with its ``case``).

        .. versionadded:: 0.1
        """
        run: dict[str, Any] = self._request("GET", f"/api/evals/runs/{segment(run_id)}")
        return run

    def list_eval_runs(
        self, agent_id: Optional[str] = None, suite_id: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """
        List eval runs, optionally of one agent or one suite.

        .. versionadded:: 0.1
        """
        runs: list[dict[str, Any]] = self._request(
            "GET", "/api/evals/runs", query={"agentId": agent_id, "suiteId": suite_id}
        )
        return runs

    def submit_results(self, run_id: str, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """
        Submit the results of a run; the run becomes ``COMPLETED`` with its pass rate.

        Args:
            run_id: The run's id.
            results: Dicts with ``caseId`` and any of ``actualOutput`` (or its alias
                ``output``), ``passed``, ``score``, ``latencyMs``, ``tokenCount``,
                ``error``, ``metadata`` (snake_case spellings accepted). Any other key is
                kept in the result's ``metadata`` rather than dropped.

        Returns:
            ``{"created": N}``.

        Raises:
            ValueError: A result has no ``caseId``, or contradicts itself.

        .. versionadded:: 0.1
        """
        wire = [_normalise_result(result) for result in results]
        answer: dict[str, Any] = self._request(
            "POST",
            f"/api/evals/runs/{segment(run_id)}/results",
            body={"results": wire},
            write=True,
        )
        return answer

    def wait_for_completion(
        self,
        run_id: str,
        poll_interval_seconds: float = 2.0,
        timeout_seconds: float = 300.0,
    ) -> dict[str, Any]:
        """
        Poll a run until it is ``COMPLETED`` or ``FAILED``, waiting longer between polls.

        Args:
            run_id: The run's id.
            poll_interval_seconds: The first wait between polls; each next wait is half
                again as long, up to 10 s (or the first wait, if longer); a wait never
                shrinks.
            timeout_seconds: Give up after this long.

        Returns:
            The finished run.

        Raises:
            EvalTimeoutError: (a :class:`TimeoutError`) the run did not finish in time;
                the message names the run and its last status.

        .. versionadded:: 0.1
        """
        deadline = time.monotonic() + timeout_seconds
        interval = max(0.01, poll_interval_seconds)
        while True:
            run = self.get_eval_run(run_id)
            status = run.get("status")
            if status in _TERMINAL_RUN_STATUSES:
                return run
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EvalTimeoutError(
                    f"eval run {run_id} did not complete within {timeout_seconds:g} s; "
                    f"its last status was {status}.",
                    run_id=run_id,
                    last_status=status if isinstance(status, str) else None,
                )
            time.sleep(min(interval, remaining))
            interval = max(interval, min(interval * 1.5, _MAX_POLL_INTERVAL_S))
