"""
Applying scorers to a case: which scorers score it, and how their verdicts combine.

``scorers=`` of :func:`provenant.evaluate` is checked once, before a run is created;
each case is then scored by those scorers, or by the built-in its ``scoringFn`` names.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from provenant.evals._scorers import BUILTIN_SCORERS, Score, Scorer, to_score

__all__ = [
    "DEFAULT_SCORING_FN",
    "NamedScorers",
    "ScorersArg",
    "callable_name",
    "describe_error",
    "normalise_scorers",
    "score_case",
    "scorer_names",
]

#: What ``scorers=`` accepts: a scorer or a built-in's name, a list of them, or a
#: mapping of names to them.
ScorersArg = Union[Scorer, str, Sequence[Union[Scorer, str]], Mapping[str, Union[Scorer, str]]]
#: Scorers with the names they are reported under.
NamedScorers = Tuple[Tuple[str, Scorer], ...]

#: The platform's default ``scoringFn``.
DEFAULT_SCORING_FN = "exact_match"


def callable_name(func: Any) -> str:
    """A function's short name (a scorer's in errors, a task's as the default agent)."""
    name = getattr(func, "__name__", None) or getattr(func, "__qualname__", None)
    return str(name) if name else type(func).__name__


def describe_error(exc: BaseException) -> str:
    """``ClassName: message``, as results and the CLI show errors."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def normalise_scorers(scorers: Optional[ScorersArg]) -> NamedScorers:
    """
    Check ``scorers=`` up front, so a typo fails before a run is created.

    Returns:
        The scorers with their names; empty for ``None`` (each case's ``scoringFn``).

    Raises:
        ValueError: An unknown built-in name, or an empty list.
        TypeError: Something neither callable nor a name.
    """
    if scorers is None:
        return ()
    items: list[tuple[Optional[str], Union[Scorer, str]]]
    if isinstance(scorers, Mapping):
        items = [(str(name), scorer) for name, scorer in scorers.items()]
    elif isinstance(scorers, str) or callable(scorers):
        items = [(None, scorers)]
    else:
        items = [(None, scorer) for scorer in scorers]
    if not items:
        raise ValueError("scorers is empty; pass None to use each case's scoringFn.")
    named: list[tuple[str, Scorer]] = []
    for name, scorer in items:
        if isinstance(scorer, str):
            builtin = BUILTIN_SCORERS.get(scorer)
            if builtin is None:
                raise ValueError(
                    f"unknown scorer {scorer!r}; the built-ins are {', '.join(BUILTIN_SCORERS)}."
                )
            named.append((name or scorer, builtin))
        elif callable(scorer):
            named.append((name or callable_name(scorer), scorer))
        else:
            raise TypeError(f"a scorer must be callable or a built-in's name; got {scorer!r}.")
    return tuple(named)


def _scorers_for(
    scorers: NamedScorers, case: Mapping[str, Any]
) -> tuple[tuple[str, Optional[Scorer]], ...]:
    if scorers:
        return scorers
    name = str(case.get("scoringFn") or DEFAULT_SCORING_FN)
    return ((name, BUILTIN_SCORERS.get(name)),)


def scorer_names(scorers: NamedScorers, case: Mapping[str, Any]) -> str:
    """The names of the scorers that score ``case``, comma-separated."""
    return ",".join(name for name, _ in _scorers_for(scorers, case))


def score_case(
    scorers: NamedScorers, case: dict[str, Any], output: Any
) -> tuple[Score, Optional[str]]:
    """
    Score one output: every scorer must pass; the score is their mean.

    Returns:
        The combined :class:`Score`, and the error that failed the case (a scorer that
        raised, or a ``scoringFn`` with no client-side scorer) or ``None``.
    """
    scores: list[tuple[str, Score]] = []
    for name, scorer in _scorers_for(scorers, case):
        if scorer is None:
            message = (
                f"scorer {name!r} has no client-side implementation (the built-ins are "
                f"{', '.join(BUILTIN_SCORERS)}); pass scorers= to evaluate()"
            )
            return Score(False, 0.0), message
        try:
            verdict = scorer(output, case.get("expectedOutput"), case)
            if inspect.iscoroutine(verdict):
                verdict.close()  # never awaited: close it rather than warn
                raise TypeError("scorers are plain functions; an async scorer is not supported")
            scores.append((name, to_score(verdict)))
        except Exception as exc:  # a user's scorer may raise anything: it fails the case
            return Score(False, 0.0), f"scorer {name} raised {describe_error(exc)}"
    if len(scores) == 1:
        return scores[0][1], None
    reasons = [f"{name}: {s.reason}" for name, s in scores if s.reason]
    combined = Score(
        passed=all(s.passed for _, s in scores),
        score=sum(s.score for _, s in scores) / len(scores),
        reason="; ".join(reasons) or None,
    )
    return combined, None
