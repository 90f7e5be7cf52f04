"""The built-in scorers and the reading of what a scorer returns."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from provenant.evals import Score, contains, exact_match, json_match, regex
from provenant.evals._scorers import to_score
from provenant.evals._submit import wire_output

CASE: dict[str, Any] = {"id": "c1", "name": "case"}


@pytest.mark.parametrize(
    ("output", "expected", "passed"),
    [
        ("Paris", "Paris", True),
        ("  Paris\n", "Paris", True),
        ("paris", "Paris", False),
        ("Paris", {"answer": "Paris"}, True),
        ({"answer": "Paris"}, "Paris", True),
        ({"answer": "Paris"}, {"answer": "Paris"}, True),
        ({"answer": "Paris", "extra": 1}, {"answer": "Paris"}, False),
        ({"city": "Paris"}, {"answer": "Paris"}, False),
        (4, {"answer": "4"}, True),
        ("4", 4, True),
        (1.0, 1, True),
        (True, 1, False),
        ((1, 2), [1, 2], True),
        ("Paris", {"a": "Paris", "b": "x"}, False),
    ],
)
def test_exact_match(output: Any, expected: Any, passed: bool) -> None:
    """exact_match compares whole objects, unwraps one-key objects, strips strings."""
    score = exact_match(output, expected, CASE)
    assert score.passed is passed
    assert score.score == (1.0 if passed else 0.0)


def test_exact_match_compares_dataclasses_as_their_fields() -> None:
    """A dataclass output is compared as the object of its fields."""

    @dataclasses.dataclass
    class Answer:
        city: str

    assert exact_match(Answer("Paris"), {"city": "Paris"}, CASE).passed


def test_builtin_scorer_without_expected_output_raises() -> None:
    """A built-in scorer on a case without expectedOutput raises a ValueError naming it."""
    with pytest.raises(ValueError, match="exact_match needs"):
        exact_match("x", None, CASE)


@pytest.mark.parametrize(
    ("output", "expected", "passed", "score"),
    [
        ("The capital is Paris.", "Paris", True, 1.0),
        ("The capital is Paris.", {"contains": "Paris"}, True, 1.0),
        ("The capital is paris.", "Paris", False, 0.0),
        ("Paris, France", ["Paris", "France"], True, 1.0),
        ("Paris", ["Paris", "France"], False, 0.5),
        ({"city": "Paris"}, "Paris", True, 1.0),
        ({"a": "Paris", "b": 2}, '"b": 2', True, 1.0),
    ],
)
def test_contains(output: Any, expected: Any, passed: bool, score: float) -> None:
    """contains looks for every expected string in the output's text; score is the share found."""
    result = contains(output, expected, CASE)
    assert (result.passed, result.score) == (passed, score)


def test_contains_refuses_non_text_expected() -> None:
    """contains raises when the expected output holds no text."""
    with pytest.raises(ValueError, match="contains needs"):
        contains("x", {"a": 1, "b": 2}, CASE)


@pytest.mark.parametrize(
    ("output", "expected", "passed", "score"),
    [
        ("order #1234 shipped", {"pattern": r"#\d+"}, True, 1.0),
        ("order 1234", r"^\d+$", False, 0.0),
        ("1234", r"^\d+$", True, 1.0),
        ("a1 b", [r"a\d", r"c"], False, 0.5),
        (42, r"^42$", True, 1.0),
    ],
)
def test_regex(output: Any, expected: Any, passed: bool, score: float) -> None:
    """regex searches each expected pattern in the output's text."""
    result = regex(output, expected, CASE)
    assert (result.passed, result.score) == (passed, score)


def test_regex_reports_a_bad_pattern() -> None:
    """An expected pattern that does not compile raises a ValueError quoting it."""
    with pytest.raises(ValueError, match=r"does not compile"):
        regex("x", "(", CASE)


@pytest.mark.parametrize(
    ("output", "expected", "passed", "score"),
    [
        ('{"city": "Paris", "n": 1}', {"city": "Paris"}, True, 1.0),
        ('```json\n{"city": "Paris"}\n```', {"city": "Paris"}, True, 1.0),
        ({"city": "Paris", "n": 1.0}, {"city": "Paris", "n": 1}, True, 1.0),
        ({"city": "Lyon", "n": 1}, {"city": "Paris", "n": 1}, False, 0.5),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, True, 1.0),
        ({"a": [1, 2]}, {"a": [1]}, False, 0.0),
        ("[1, 2]", {"items": [1, 2]}, True, 1.0),
        ("not json", {"city": "Paris"}, False, 0.0),
    ],
)
def test_json_match(output: Any, expected: Any, passed: bool, score: float) -> None:
    """json_match parses string outputs and wants every expected key, extra keys allowed."""
    result = json_match(output, expected, CASE)
    assert (result.passed, result.score) == (passed, score)


def test_json_match_says_when_output_is_not_json() -> None:
    """An unparseable output fails with a reason saying it is not JSON."""
    assert "not valid JSON" in (json_match("{oops", {"a": 1}, CASE).reason or "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, Score(True, 1.0)),
        (False, Score(False, 0.0)),
        (0.8, Score(True, 0.8)),
        (0.2, Score(False, 0.2)),
        (1, Score(True, 1.0)),
        ({"passed": True}, Score(True, 1.0)),
        ({"score": 0.3, "reason": "meh"}, Score(False, 0.3, "meh")),
        ({"passed": True, "score": 0.3}, Score(True, 0.3)),
        (Score(False, 0.1, "x"), Score(False, 0.1, "x")),
    ],
)
def test_to_score_reads_every_shape(value: Any, expected: Score) -> None:
    """A scorer may return a bool, a number (passing from 0.5) or a dict."""
    assert to_score(value) == expected


@pytest.mark.parametrize("value", ["yes", None, {"reason": "r"}, {"score": "high"}])
def test_to_score_refuses_other_shapes(value: Any) -> None:
    """Anything but a bool, a number or a passed/score dict is a TypeError."""
    with pytest.raises(TypeError):
        to_score(value)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        1.000001,
        -0.5,
        2,
        {"score": float("nan")},
        {"passed": True, "score": float("inf")},
        {"passed": False, "score": -1},
        Score(True, 1.5),
        Score(False, float("nan")),
    ],
)
def test_to_score_refuses_scores_not_finite_or_outside_0_1(value: Any) -> None:
    """A score that is NaN, infinite or outside 0..1 is a ValueError, in every shape."""
    with pytest.raises(ValueError, match=r"non-finite|outside 0\.\.1"):
        to_score(value)


def test_outputs_are_compared_in_the_form_they_are_recorded_in() -> None:
    """A date equals its ISO text and a set its sorted list, as tracing records them."""
    moment = datetime.datetime(2024, 5, 1, 12, 30)
    assert exact_match(moment, "2024-05-01T12:30:00", CASE).passed
    assert exact_match({3, 1, 2}, [1, 2, 3], CASE).passed


def test_a_cyclic_output_is_scored_and_submitted_not_raised() -> None:
    """An output that holds itself is compared and sent with the cycle cut."""
    looped: list[object] = [1]
    looped.append(looped)
    assert exact_match(looped, [1, "<cycle>"], CASE).passed
    assert wire_output(looped) == [1, "<cycle>"]
