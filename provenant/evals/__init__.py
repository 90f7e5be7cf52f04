"""
Evaluations: run a suite of cases through your agent, score each output, record the run.

::

    import provenant

    def answer(case_input: dict) -> str:
        return my_agent(case_input["question"])

    report = provenant.evaluate(suite_id, answer, agent_id="Support Bot")
    print(report)                 # a table: one row per case, then the totals
    report.pass_rate              # passed / all cases
    report.weighted_score         # scores weighted by the cases' weights

Each case is scored by its ``scoringFn`` unless ``scorers=`` says otherwise:

=============== ===================================================================
``exact_match`` the output equals the expected output (strings compared stripped)
``contains``    the output's text contains the expected string(s)
``json_match``  the output, read as JSON, holds every expected key with its value
``regex``       the expected pattern(s) are found in the output's text
=============== ===================================================================

An expected object with a single key stands for its value (``{"answer": "4"}``
expects ``"4"``); see each scorer for the exact rule. A scorer of your own is any
``(output, expected, case) -> bool | float | dict`` (``passed``, ``score``, ``reason``).

The ``provenant eval run`` command wraps :func:`evaluate` as a CI gate.

.. versionadded:: 0.1
"""

from __future__ import annotations

from provenant.evals._evaluate import evaluate
from provenant.evals._report import CaseResult, EvalReport
from provenant.evals._runner import Task
from provenant.evals._scorers import (
    BUILTIN_SCORERS,
    Score,
    Scorer,
    ScorerResult,
    contains,
    exact_match,
    json_match,
    regex,
)
from provenant.evals._scoring import ScorersArg

__all__ = [
    "BUILTIN_SCORERS",
    "CaseResult",
    "EvalReport",
    "Score",
    "Scorer",
    "ScorerResult",
    "ScorersArg",
    "Task",
    "contains",
    "evaluate",
    "exact_match",
    "json_match",
    "regex",
]
