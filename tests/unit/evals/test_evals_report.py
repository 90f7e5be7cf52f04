"""EvalReport's figures, table and dict."""

from __future__ import annotations

import json

from provenant.evals import CaseResult, EvalReport


def _result(name: str, passed: bool, score: float, weight: float, **extra: object) -> CaseResult:
    return CaseResult(
        case_id=f"id-{name}",
        name=name,
        input={"q": name},
        expected={"answer": name},
        output=name if passed else "wrong",
        passed=passed,
        score=score,
        weight=weight,
        latency_ms=12,
        token_count=30,
        **extra,  # type: ignore[arg-type]
    )


def _report() -> EvalReport:
    return EvalReport(
        run_id="run-1",
        suite_id="suite-1",
        suite_name="Capitals",
        agent_id="agent-1",
        status="COMPLETED",
        results=(
            _result("a", True, 1.0, 3.0),
            _result("b", False, 0.0, 1.0, error="ValueError: boom"),
            _result("c", False, 0.5, 0.0, reason="missing 'x'"),
            _result("d", True, 1.0, 1.0),
        ),
    )


def test_report_figures() -> None:
    """Pass rate counts cases; the weighted score weighs each case's score by its weight."""
    report = _report()
    assert (report.total, report.passed, report.failed, report.errored) == (4, 2, 2, 1)
    assert report.pass_rate == 0.5
    assert report.mean_score == 0.625
    assert report.weighted_score == (3.0 + 0.0 + 0.0 + 1.0) / 5.0
    assert report.total_tokens == 120


def test_report_table_has_a_row_per_case_and_the_totals() -> None:
    """str(report) is a table naming every case, its error or reason, then the summary."""
    text = str(_report())
    lines = text.splitlines()
    assert lines[0].startswith("Eval run run-1 of suite Capitals (COMPLETED)")
    assert lines[1].split()[:2] == ["case", "pass"]
    assert "ValueError: boom" in text and "missing 'x'" in text
    assert lines[-1].startswith("2/4 passed (50.0%), 1 errored; weighted score 0.800")


def test_report_to_dict_is_json() -> None:
    """to_dict() round-trips through JSON with the wire's names."""
    document = json.loads(json.dumps(_report().to_dict()))
    assert document["passRate"] == 0.5
    assert document["weightedScore"] == 0.8
    assert [r["caseId"] for r in document["results"]] == ["id-a", "id-b", "id-c", "id-d"]
    assert document["results"][1]["error"] == "ValueError: boom"


def test_empty_report_has_zero_rates() -> None:
    """A report without results has pass rate and scores of zero, not a division error."""
    report = EvalReport("r", "s", "", "a", None, ())
    assert (report.pass_rate, report.mean_score, report.weighted_score) == (0.0, 0.0, 0.0)
    assert "not waited for" in str(report)


def test_report_shows_cost_only_where_calls_were_priced() -> None:
    """Priced cases add a cost column, the total to the summary and to_dict; a report
    without any priced call looks as it did."""
    assert "cost" not in str(_report()).splitlines()[1].split()
    report = EvalReport(
        run_id="run-1",
        suite_id="suite-1",
        suite_name="Capitals",
        agent_id="agent-1",
        status="COMPLETED",
        results=(
            _result("a", True, 1.0, 1.0, cost_usd=0.0105),
            _result("b", True, 1.0, 1.0, cost_usd=0.002, cost_partial=True),
            _result("c", True, 1.0, 1.0),
        ),
    )
    assert report.total_cost_usd == 0.0125 and report.cost_partial is True
    lines = str(report).splitlines()
    column = lines[1].split().index("cost")
    assert [line.split()[column] for line in lines[3:6]] == ["$0.0105", "$0.002+", "-"]
    assert "90 tokens; cost $0.0125+;" in lines[-1]
    document = report.to_dict()
    assert (document["totalCostUsd"], document["costPartial"]) == (0.0125, True)
    assert document["results"][0]["costUsd"] == 0.0105
