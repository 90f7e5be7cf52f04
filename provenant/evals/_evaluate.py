"""
:func:`evaluate`, the public entry point: the default client when none is given, then
:func:`~provenant.evals._runner.run_suite` through it. Kept apart from the runner so that
the runner never reaches the client (it takes any :class:`~provenant.evals._client.EvalClient`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional

from provenant.evals._runner import Task, run_suite

if TYPE_CHECKING:
    from provenant.evals._client import EvalClient
    from provenant.evals._report import EvalReport
    from provenant.evals._scoring import ScorersArg

__all__ = ["evaluate"]


def evaluate(
    suite_id: str,
    task: Task,
    *,
    agent_id: Optional[str] = None,
    scorers: Optional[ScorersArg] = None,
    max_concurrency: int = 4,
    metadata: Optional[Mapping[str, Any]] = None,
    wait: bool = True,
    client: Optional[EvalClient] = None,
) -> EvalReport:
    """
    Run every case of an eval suite through ``task``, score it, and record the run.

    The cases are fetched, a run is created, and ``task(case["input"])`` is called for
    each case, at most ``max_concurrency`` at a time: a plain function in a pool of
    threads (each carrying a copy of the caller's context), an ``async def`` function on
    one event loop. Each call runs in its own traced session whose metadata holds
    ``evalRunId`` and ``caseId``. Each output is scored by the case's ``scoringFn``
    (``exact_match``, ``contains``, ``json_match``, ``regex``; see
    :mod:`provenant.evals`) unless ``scorers`` are given. A task that raises makes its
    case a failed result with the error's text, and the run goes on; so does a scorer
    that raises, the error then saying it came from the scorer. Every result is then
    submitted and, with ``wait``, the run is waited for.

    On a terminal, a progress line on standard error counts the cases done and the pass
    rate so far; nothing is drawn when standard error is not a TTY.

    Args:
        suite_id: The suite's id.
        task: ``(case_input) -> output``, sync or async.
        agent_id: The agent evaluated (a UUID or a name). Default: the client's
            ``agent_id`` (``PROVENANT_AGENT``), else the task's name.
        scorers: Instead of each case's ``scoringFn``: a scorer
            ``(output, expected, case) -> bool | float | dict`` (a dict gives
            ``passed``, ``score``, ``reason``), a built-in's name, a list of those (a
            case passes when all pass; its score is their mean), or a mapping of names
            to them.
        max_concurrency: The most cases running at once (at least 1).
        metadata: A JSON object stored on the run.
        wait: Wait for the run to complete (and report the platform's figures).
        client: The client to use (default: :func:`provenant.get_client`).

    Returns:
        An :class:`~provenant.evals.EvalReport`.

    Raises:
        TypeError: An argument of the wrong type (named in the message).
        ValueError: ``max_concurrency`` below 1, an unknown built-in name in
            ``scorers``, or a suite without cases.
        provenant.errors.ProvenantError: The platform refused or could not be reached.
        provenant.errors.EvalTimeoutError: With ``wait``, the run did not complete.

    .. versionadded:: 0.1
    """
    if client is None:
        from provenant._default import get_client

        client = get_client()
    return run_suite(
        client,
        suite_id,
        task,
        agent_id=agent_id,
        scorers=scorers,
        max_concurrency=max_concurrency,
        metadata=metadata,
        wait=wait,
    )
