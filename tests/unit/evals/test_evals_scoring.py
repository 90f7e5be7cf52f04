"""Which scorers score a case, and how their verdicts combine."""

from __future__ import annotations

from typing import Any

import pytest

from provenant.evals import Score, contains, exact_match
from provenant.evals._scoring import normalise_scorers, score_case, scorer_names


def _never(output: Any, expected: Any, case: dict[str, Any]) -> bool:
    return False


def test_names_a_single_name_a_callable_a_list_and_a_mapping() -> None:
    """scorers= accepts a name, a callable, a list of them or a mapping, each named."""
    assert normalise_scorers(None) == ()
    assert normalise_scorers("contains") == (("contains", contains),)
    assert normalise_scorers(_never) == (("_never", _never),)
    assert normalise_scorers(["exact_match", _never]) == (
        ("exact_match", exact_match),
        ("_never", _never),
    )
    assert normalise_scorers({"strict": "exact_match"}) == (("strict", exact_match),)


@pytest.mark.parametrize(
    ("scorers", "error"),
    [("exact", ValueError), ([], ValueError), ([42], TypeError)],
)
def test_refuses_unknown_names_empty_lists_and_non_callables(scorers: Any, error: type) -> None:
    """A misspelt name or an empty list is a ValueError; a non-callable a TypeError."""
    with pytest.raises(error):
        normalise_scorers(scorers)


def test_case_scoring_fn_applies_when_no_scorers_given() -> None:
    """Without scorers=, the case's scoringFn (exact_match by default) scores it."""
    case: dict[str, Any] = {"expectedOutput": "Paris", "scoringFn": "contains"}
    assert score_case((), case, "in Paris") == (Score(True, 1.0), None)
    assert scorer_names((), case) == "contains"
    assert scorer_names((), {"expectedOutput": "x"}) == "exact_match"


def test_several_scorers_must_all_pass_and_average() -> None:
    """With several scorers, a case passes only if all pass, scored by their mean."""
    scorers = normalise_scorers(["exact_match", _never])
    verdict, error = score_case(scorers, {"expectedOutput": "x"}, "x")
    assert (verdict.passed, verdict.score, error) == (False, 0.5, None)
