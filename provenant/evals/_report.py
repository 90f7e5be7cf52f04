"""
:class:`EvalReport` and :class:`CaseResult`: what an eval run gave, case by case.

``str(report)`` is a table for a terminal; ``report.to_dict()`` is JSON-ready::

    report = provenant.evaluate(suite_id, answer)
    print(report)                       # one row per case, then the totals
    report.pass_rate, report.weighted_score, report.run_id

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional, Sequence

from provenant._cost import format_usd

__all__ = ["CaseResult", "EvalReport"]

_OUTPUT_COLUMN_CHARS = 32
_ERROR_COLUMN_CHARS = 48


@dataclasses.dataclass(frozen=True)
class CaseResult:
    """
    The outcome of one case of an eval run.

    Attributes:
        case_id: The case's id.
        name: The case's name.
        input: The input given to the task.
        expected: The case's ``expectedOutput``.
        output: What the task returned (``None`` when it raised).
        passed: Whether the case passed.
        score: The case's score, 0..1.
        weight: The case's weight in the weighted score.
        latency_ms: How long the task took, in milliseconds.
        token_count: Tokens of the LLM calls recorded in the case's session.
        cost_usd: What those calls cost in USD, the priced ones (``None`` when none was
            priced: see the Cost page).
        cost_partial: True when a call's model had no known price.
        error: The task's or the scorer's error, or ``None``.
        reason: The scorer's explanation, or ``None``.
        scoring_fn: The scorer(s) applied, by name.
        session_external_id: The ``externalId`` of the case's traced session.

    .. versionadded:: 0.1
    """

    case_id: str
    name: str
    input: Any
    expected: Any
    output: Any
    passed: bool
    score: float
    weight: float = 1.0
    latency_ms: int = 0
    token_count: int = 0
    error: Optional[str] = None
    reason: Optional[str] = None
    scoring_fn: str = ""
    session_external_id: Optional[str] = None
    cost_usd: Optional[float] = None
    cost_partial: bool = False

    def to_dict(self) -> dict[str, Any]:
        """
        The result as a JSON-ready dict with the wire's camelCase names.

        .. versionadded:: 0.1
        """
        return {
            "caseId": self.case_id,
            "name": self.name,
            "input": self.input,
            "expectedOutput": self.expected,
            "actualOutput": self.output,
            "passed": self.passed,
            "score": self.score,
            "weight": self.weight,
            "latencyMs": self.latency_ms,
            "tokenCount": self.token_count,
            "error": self.error,
            "reason": self.reason,
            "scoringFn": self.scoring_fn,
            "sessionExternalId": self.session_external_id,
            "costUsd": self.cost_usd,
            "costPartial": self.cost_partial,
        }


def weighted_score(results: Sequence[CaseResult]) -> float:
    """The mean of the scores weighted by the cases' weights (0.0 with no weight at all)."""
    total_weight = sum(max(0.0, r.weight) for r in results)
    if total_weight <= 0:
        return 0.0
    return sum(max(0.0, r.weight) * r.score for r in results) / total_weight


@dataclasses.dataclass(frozen=True)
class EvalReport:
    """
    The outcome of :func:`provenant.evaluate`: totals, and one row per case.

    Attributes:
        run_id: The eval run's id on the platform.
        suite_id: The suite's id.
        suite_name: The suite's name.
        agent_id: The id of the agent evaluated.
        status: The run's last known status (``COMPLETED`` once waited for; ``None``
            when ``wait=False``).
        results: One :class:`CaseResult` per case, in the suite's order.
        server_pass_rate: The ``passRate`` the platform computed, when waited for.
        server_score: The ``score`` (mean score) the platform computed, when waited for.
        duration_s: Wall time of the whole evaluation, in seconds.

    .. versionadded:: 0.1
    """

    run_id: str
    suite_id: str
    suite_name: str
    agent_id: str
    status: Optional[str]
    results: tuple[CaseResult, ...]
    server_pass_rate: Optional[float] = None
    server_score: Optional[float] = None
    duration_s: float = 0.0

    @property
    def total(self) -> int:
        """Number of cases run."""
        return len(self.results)

    @property
    def passed(self) -> int:
        """Number of cases that passed."""
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        """Number of cases that did not pass (errors included)."""
        return self.total - self.passed

    @property
    def errored(self) -> int:
        """Number of cases whose task or scorer raised."""
        return sum(1 for r in self.results if r.error is not None)

    @property
    def pass_rate(self) -> float:
        """Passed cases over all cases, 0..1 (what the platform reports as ``passRate``)."""
        return self.passed / self.total if self.total else 0.0

    @property
    def mean_score(self) -> float:
        """The unweighted mean score (what the platform reports as ``score``)."""
        return sum(r.score for r in self.results) / self.total if self.total else 0.0

    @property
    def weighted_score(self) -> float:
        """The mean score weighted by the cases' weights, 0..1."""
        return weighted_score(self.results)

    @property
    def total_tokens(self) -> int:
        """Tokens of all the cases' recorded LLM calls."""
        return sum(r.token_count for r in self.results)

    @property
    def total_cost_usd(self) -> Optional[float]:
        """What the cases' priced LLM calls cost in USD (``None`` when none was priced)."""
        costs = [r.cost_usd for r in self.results if r.cost_usd is not None]
        return sum(costs) if costs else None

    @property
    def cost_partial(self) -> bool:
        """True when a case's call had a model of unknown price (the total leaves it out)."""
        return any(r.cost_partial for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """
        The report as a JSON-ready dict (camelCase keys, as on the wire).

        .. versionadded:: 0.1
        """
        return {
            "runId": self.run_id,
            "suiteId": self.suite_id,
            "suiteName": self.suite_name,
            "agentId": self.agent_id,
            "status": self.status,
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "errored": self.errored,
            "passRate": self.pass_rate,
            "meanScore": self.mean_score,
            "weightedScore": self.weighted_score,
            "totalTokens": self.total_tokens,
            "totalCostUsd": self.total_cost_usd,
            "costPartial": self.cost_partial,
            "serverPassRate": self.server_pass_rate,
            "serverScore": self.server_score,
            "durationS": self.duration_s,
            "results": [r.to_dict() for r in self.results],
        }

    def summary(self) -> str:
        """
        One line: passed over total, pass rate, weighted score.

        .. versionadded:: 0.1
        """
        errors = f", {self.errored} errored" if self.errored else ""
        priced = self.total_cost_usd is not None or self.cost_partial
        cost = f"; cost {format_usd(self.total_cost_usd, self.cost_partial)}" if priced else ""
        return (
            f"{self.passed}/{self.total} passed ({self.pass_rate:.1%}){errors}; "
            f"weighted score {self.weighted_score:.3f}; {self.total_tokens} tokens{cost}; "
            f"{self.duration_s:.1f} s"
        )

    def __str__(self) -> str:
        header = ["case", "pass", "score", "weight", "ms", "tokens", "output", "error / reason"]
        rows = [
            [
                r.name,
                "yes" if r.passed else "NO",
                f"{r.score:.2f}",
                f"{r.weight:g}",
                str(r.latency_ms),
                str(r.token_count),
                _cell(r.output, _OUTPUT_COLUMN_CHARS) if r.error is None else "-",
                _cell(r.error or r.reason or "", _ERROR_COLUMN_CHARS),
            ]
            for r in self.results
        ]
        right = {2, 3, 4, 5}
        if any(r.cost_usd is not None or r.cost_partial for r in self.results):
            # A cost column only where something was priced: no extra without it.
            header.insert(6, "cost")
            for row, r in zip(rows, self.results):
                row.insert(6, format_usd(r.cost_usd, r.cost_partial))
            right.add(6)
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

        def line(cells: Sequence[str]) -> str:
            parts = [
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(cells)
            ]
            return "  ".join(parts).rstrip()

        out = [
            f"Eval run {self.run_id} of suite {self.suite_name or self.suite_id} "
            f"({self.status or 'not waited for'})",
            line(header),
            line(["-" * w for w in widths]),
            *(line(row) for row in rows),
            "",
            self.summary(),
        ]
        return "\n".join(out)


def _cell(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
