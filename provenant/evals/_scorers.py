"""
Scorers: how an eval case's output is compared with its ``expectedOutput``.

A scorer is any callable ``(output, expected, case) -> bool | float | dict``; the four
built-ins carry the platform's ``scoringFn`` names::

    exact_match("Paris", {"answer": "Paris"}, case)        # Score(passed=True, score=1.0)
    contains("The capital is Paris.", "Paris", case)       # Score(passed=True, score=1.0)
    json_match('{"city": "Paris", "n": 1}', {"city": "Paris"}, case)
    regex("order #1234", {"pattern": r"#\\d+"}, case)

Two rules are shared by the built-ins:

* **Unwrapping.** ``expectedOutput`` is a JSON object on the platform, so a case often
  stores ``{"answer": "Paris"}`` for the output ``"Paris"``. An object with exactly one
  key stands for its value wherever the other side is not an object (``exact_match``,
  ``json_match``), and always for ``contains`` and ``regex``, which need text.
* **Text of a value.** A string is its own text; anything else is its JSON text
  (``4`` is ``"4"``, ``True`` is ``"true"``, a dict is ``json.dumps`` of it).

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Callable, Dict, Mapping, Optional, Union

from provenant.tracing._payload import jsonable

__all__ = [
    "BUILTIN_SCORERS",
    "Score",
    "Scorer",
    "ScorerResult",
    "contains",
    "exact_match",
    "json_match",
    "regex",
    "to_score",
]

#: What a scorer may return: a verdict, a score in 0..1, or a dict with
#: ``passed``/``score``/``reason``.
ScorerResult = Union[bool, float, int, Mapping[str, Any], "Score"]
#: ``(output, expected, case) -> ScorerResult``; ``case`` is the suite's case dict.
Scorer = Callable[[Any, Any, Dict[str, Any]], ScorerResult]

#: A number returned by a scorer passes when it reaches this.
_PASS_THRESHOLD = 0.5
_FENCE_RE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Score:
    """
    The verdict of one scorer on one case.

    Attributes:
        passed: Whether the case passes.
        score: A number in 0..1 (1.0 when passed and nothing finer is known).
        reason: Why, in a few words, or ``None``.

    .. versionadded:: 0.1
    """

    passed: bool
    score: float
    reason: Optional[str] = None


def to_score(value: Any) -> Score:
    """
    Turn what a scorer returned into a :class:`Score`.

    ``True``/``False`` give a score of 1.0/0.0. A number is the score, passing from
    0.5 on. A dict gives ``passed``, ``score`` and ``reason``; a missing ``score`` is
    1.0 or 0.0 by ``passed``, a missing ``passed`` is ``score >= 0.5``.

    Args:
        value: The scorer's return value.

    Raises:
        TypeError: The value is none of those shapes.
        ValueError: The score is not a finite number in 0..1 (NaN, infinite, or out
            of range), which the platform could not take.

    .. versionadded:: 0.1
    """
    if isinstance(value, Score):
        _check_score(value.score)
        return value
    if isinstance(value, bool):
        return Score(passed=value, score=1.0 if value else 0.0)
    if isinstance(value, (int, float)):
        number = _check_score(float(value))
        return Score(passed=number >= _PASS_THRESHOLD, score=number)
    if isinstance(value, Mapping):
        passed = value.get("passed")
        score = value.get("score")
        reason = value.get("reason")
        if passed is None and score is None:
            raise TypeError(f"the scorer returned a dict without 'passed' or 'score': {value!r}")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise TypeError(f"the scorer returned a non-numeric score: {score!r}")
        number = (1.0 if passed else 0.0) if score is None else _check_score(float(score))
        return Score(
            passed=number >= _PASS_THRESHOLD if passed is None else bool(passed),
            score=number,
            reason=None if reason is None else str(reason),
        )
    raise TypeError(
        f"a scorer must return a bool, a number or a dict with passed/score/reason; "
        f"got {type(value).__name__}"
    )


def _check_score(number: float) -> float:
    """A score is a finite number in 0..1: anything else fails its case as a scorer error."""
    if not math.isfinite(number):
        raise ValueError(f"the scorer returned a non-finite score: {number!r}")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"the scorer returned a score outside 0..1: {number!r}")
    return number


# -- shared rules ------------------------------------------------------------------------


def _unwrap(value: Any) -> Any:
    """A one-key object stands for its value."""
    if isinstance(value, Mapping) and len(value) == 1:
        return next(iter(value.values()))
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=repr)


def _require_expected(name: str, expected: Any) -> None:
    if expected is None:
        raise ValueError(f"{name} needs the case's expectedOutput, and the case has none")


def _same(left: Any, right: Any) -> bool:
    """JSON equality: numbers by value (1 == 1.0), booleans only equal booleans."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return float(left) == float(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right))
    return bool(left == right)


def _matches(output: Any, expected: Any) -> bool:
    """``json_match``'s rule: every key of an expected object matches, extra keys allowed."""
    if isinstance(expected, dict):
        return isinstance(output, dict) and all(
            key in output and _matches(output[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(output, list)
            and len(output) == len(expected)
            and all(_matches(a, b) for a, b in zip(output, expected))
        )
    return _same(output, expected)


def _needles(name: str, expected: Any) -> list[str]:
    value = _unwrap(expected)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError(
        f"{name} needs expectedOutput to be a string, a list of strings, or an object with "
        f"one key holding one of those; got {expected!r}"
    )


# -- the built-ins ---------------------------------------------------------------------


def exact_match(output: Any, expected: Any, case: Mapping[str, Any]) -> Score:
    """
    Pass when the output equals the expected output.

    Two objects are compared whole (same keys, equal values). Otherwise a one-key
    expected object is unwrapped (``{"answer": "4"}`` expects ``"4"``), and then: two
    strings are equal after stripping surrounding whitespace (case counts); a string
    and a number, boolean or null compare as text (``"4"`` equals ``4``); anything else
    by JSON equality (``1 == 1.0``, tuples equal lists, ``True`` is not ``1``).

    Args:
        output: What the task returned.
        expected: The case's ``expectedOutput``.
        case: The case (unused).

    Raises:
        ValueError: The case has no ``expectedOutput``.

    .. versionadded:: 0.1
    """
    _require_expected("exact_match", expected)
    out = jsonable(output)
    exp = jsonable(expected)
    if not (isinstance(out, dict) and isinstance(exp, dict)):
        exp = _unwrap(exp)
        out = _unwrap(out) if isinstance(out, dict) and not isinstance(exp, dict) else out
    if isinstance(out, str) or isinstance(exp, str):
        if isinstance(out, (dict, list)) or isinstance(exp, (dict, list)):
            passed = False
        else:
            passed = _text(out).strip() == _text(exp).strip()
    else:
        passed = _same(out, exp)
    return Score(passed, 1.0 if passed else 0.0, None if passed else "output differs")


def contains(output: Any, expected: Any, case: Mapping[str, Any]) -> Score:
    """
    Pass when the output's text contains the expected text (case counts).

    The expected output, unwrapped, is a string or a list of strings; with a list, every
    string must occur, and the score is the fraction that do. The output's text is the
    string itself, or the JSON text of anything else (a one-key object is unwrapped first).

    Args:
        output: What the task returned.
        expected: The case's ``expectedOutput``.
        case: The case (unused).

    Raises:
        ValueError: The expected output is not text.

    .. versionadded:: 0.1
    """
    _require_expected("contains", expected)
    needles = _needles("contains", jsonable(expected))
    haystack = _text(_unwrap(jsonable(output)))
    missing = [needle for needle in needles if needle not in haystack]
    score = (len(needles) - len(missing)) / len(needles)
    reason = None if not missing else f"missing {', '.join(repr(m) for m in missing)}"
    return Score(not missing, score, reason)


def regex(output: Any, expected: Any, case: Mapping[str, Any]) -> Score:
    """
    Pass when the expected regular expression is found in the output's text.

    The expected output, unwrapped, is a pattern or a list of patterns (each must be
    found; the score is the fraction found), searched with :func:`re.search` anywhere
    in the text (anchor with ``^``/``$`` for a full match). The output's text is as for
    :func:`contains`.

    Args:
        output: What the task returned.
        expected: The case's ``expectedOutput``.
        case: The case (unused).

    Raises:
        ValueError: The expected output is not a pattern, or does not compile.

    .. versionadded:: 0.1
    """
    _require_expected("regex", expected)
    patterns = _needles("regex", jsonable(expected))
    haystack = _text(_unwrap(jsonable(output)))
    missing = []
    for pattern in patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"regex pattern {pattern!r} does not compile: {exc}") from exc
        if compiled.search(haystack) is None:
            missing.append(pattern)
    score = (len(patterns) - len(missing)) / len(patterns)
    reason = None if not missing else f"no match for {', '.join(repr(m) for m in missing)}"
    return Score(not missing, score, reason)


def json_match(output: Any, expected: Any, case: Mapping[str, Any]) -> Score:
    """
    Pass when the output, read as JSON, holds everything the expected output holds.

    A string output is parsed as JSON (a surrounding Markdown code fence is removed
    first); an unparseable string fails. An expected object matches an object that has
    each of its keys with a matching value, extra keys allowed, recursively; a list
    matches a list of the same length, item by item; other values by JSON equality. The
    score is the fraction of the expected object's top-level keys that match. A one-key
    expected object is unwrapped when the output is not an object.

    Args:
        output: What the task returned.
        expected: The case's ``expectedOutput``.
        case: The case (unused).

    .. versionadded:: 0.1
    """
    _require_expected("json_match", expected)
    out = output
    if isinstance(out, str):
        text = out.strip()
        fenced = _FENCE_RE.match(text)
        if fenced:
            text = fenced.group(1).strip()
        try:
            out = json.loads(text)
        except ValueError as exc:
            return Score(False, 0.0, f"output is not valid JSON ({exc})")
    out = jsonable(out)
    exp = jsonable(expected)
    if isinstance(exp, dict) and not isinstance(out, dict):
        exp = _unwrap(exp)
    if isinstance(exp, dict) and isinstance(out, dict) and exp:
        wrong = [k for k, v in exp.items() if k not in out or not _matches(out[k], v)]
        score = (len(exp) - len(wrong)) / len(exp)
        reason = None if not wrong else f"keys not matching: {', '.join(map(str, wrong))}"
        return Score(not wrong, score, reason)
    passed = _matches(out, exp)
    return Score(passed, 1.0 if passed else 0.0, None if passed else "output differs")


#: The built-in scorers by their ``scoringFn`` name.
BUILTIN_SCORERS: Mapping[str, Scorer] = {
    "exact_match": exact_match,
    "contains": contains,
    "json_match": json_match,
    "regex": regex,
}
