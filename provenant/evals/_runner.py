"""
:func:`evaluate`: run a suite's cases through a task, score them, submit the results.

::

    import provenant

    def answer(case_input: dict) -> str:
        return my_agent(case_input["question"])

    report = provenant.evaluate(suite_id, answer, agent_id="Support Bot")
    print(report)
    assert report.pass_rate >= 0.9

Each case runs inside its own traced session (metadata ``evalRunId`` and ``caseId``),
so the LLM calls the task makes are recorded and linked to the run; the case's
``tokenCount`` is what that session recorded.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import inspect
import json
import threading
import time
import uuid
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Mapping,
    Optional,
    Sequence,
    Union,
)

from provenant.evals._progress import Progress
from provenant.evals._report import CaseResult, EvalReport
from provenant.evals._scorers import BUILTIN_SCORERS, Score, Scorer, _jsonish, to_score

if TYPE_CHECKING:
    from provenant.client import ProvenantClient
    from provenant.tracing._session import Session

__all__ = ["ScorersArg", "Task", "evaluate"]

#: A task: called with a case's ``input``; sync, or ``async def``.
Task = Callable[[Any], Any]
#: What ``scorers=`` accepts: a scorer or a built-in's name, a list of them, or a
#: mapping of names to them.
ScorersArg = Union[Scorer, str, Sequence[Union[Scorer, str]], Mapping[str, Union[Scorer, str]]]

_DEFAULT_SCORING_FN = "exact_match"
_POLL_INTERVAL_S = 0.5
_WAIT_TIMEOUT_S = 300.0
# The contract caps a request body at 5 MB: results go in chunks well under it, and
# one output bigger than this is sent truncated, as text.
_MAX_CHUNK_BYTES = 2_000_000
_MAX_CHUNK_RESULTS = 500
_MAX_OUTPUT_BYTES = 1_000_000


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every case of one run shares."""

    client: ProvenantClient
    task: Task
    run_id: str
    agent_id: str
    scorers: tuple[tuple[str, Scorer], ...]
    progress: Progress


def evaluate(
    suite_id: str,
    task: Task,
    *,
    agent_id: Optional[str] = None,
    scorers: Optional[ScorersArg] = None,
    max_concurrency: int = 4,
    metadata: Optional[Mapping[str, Any]] = None,
    wait: bool = True,
    client: Optional[ProvenantClient] = None,
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
        ValueError: ``max_concurrency`` below 1, an unknown built-in name in
            ``scorers``, or a suite without cases.
        provenant.errors.ProvenantError: The platform refused or could not be reached.
        provenant.errors.EvalTimeoutError: With ``wait``, the run did not complete.

    .. versionadded:: 0.1
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1; got {max_concurrency}.")
    if not callable(task):
        raise TypeError(f"task must be callable; got {type(task).__name__}.")
    named_scorers = _normalise_scorers(scorers)
    if client is None:
        from provenant._default import get_client

        client = get_client()
    started = time.monotonic()

    suite = client.get_eval_suite(suite_id)
    cases: list[dict[str, Any]] = list(suite.get("cases") or [])
    if not cases:
        raise ValueError(f"eval suite {suite_id} has no cases; add some before evaluating.")
    agent = agent_id or client.settings.agent_id or _task_name(task)
    resolved_agent = client.resolve_agent_id(agent)
    run = client.create_eval_run(suite_id, resolved_agent, metadata=metadata)
    run_id = str(run["id"])

    plan = _Plan(
        client=client,
        task=task,
        run_id=run_id,
        agent_id=resolved_agent,
        scorers=named_scorers,
        progress=Progress(len(cases)),
    )
    try:
        if _is_async(task):
            results = _run_async_cases(plan, cases, max_concurrency)
        else:
            results = _run_sync_cases(plan, cases, max_concurrency)
    finally:
        plan.progress.close()

    # Deliver the cases' sessions before the run is reported, so they can be browsed.
    client.flush()
    _submit(client, run_id, results)
    status: Optional[str] = None
    server_pass_rate: Optional[float] = None
    server_score: Optional[float] = None
    if wait:
        finished = client.wait_for_completion(
            run_id, poll_interval_seconds=_POLL_INTERVAL_S, timeout_seconds=_WAIT_TIMEOUT_S
        )
        status = finished.get("status")
        server_pass_rate = _number(finished.get("passRate"))
        server_score = _number(finished.get("score"))
    return EvalReport(
        run_id=run_id,
        suite_id=suite_id,
        suite_name=str(suite.get("name") or ""),
        agent_id=resolved_agent,
        status=status,
        results=tuple(results),
        server_pass_rate=server_pass_rate,
        server_score=server_score,
        duration_s=time.monotonic() - started,
    )


# -- scorers ---------------------------------------------------------------------------


def _normalise_scorers(scorers: Optional[ScorersArg]) -> tuple[tuple[str, Scorer], ...]:
    """Validate ``scorers=`` up front, so a typo fails before a run is created."""
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
            named.append((name or _task_name(scorer), scorer))
        else:
            raise TypeError(f"a scorer must be callable or a built-in's name; got {scorer!r}.")
    return tuple(named)


def _scorers_for(plan: _Plan, case: Mapping[str, Any]) -> tuple[tuple[str, Optional[Scorer]], ...]:
    if plan.scorers:
        return plan.scorers
    name = str(case.get("scoringFn") or _DEFAULT_SCORING_FN)
    return ((name, BUILTIN_SCORERS.get(name)),)


def _score(plan: _Plan, case: dict[str, Any], output: Any) -> tuple[Score, str, Optional[str]]:
    """Apply the case's scorers: (combined score, their names, a scorer's error or None)."""
    scorers = _scorers_for(plan, case)
    names = ",".join(name for name, _ in scorers)
    scores: list[tuple[str, Score]] = []
    for name, scorer in scorers:
        if scorer is None:
            message = (
                f"scorer {name!r} has no client-side implementation (the built-ins are "
                f"{', '.join(BUILTIN_SCORERS)}); pass scorers= to evaluate()"
            )
            return Score(False, 0.0), names, message
        try:
            verdict = scorer(output, case.get("expectedOutput"), case)
            if inspect.iscoroutine(verdict):
                verdict.close()  # never awaited: close it rather than warn
                raise TypeError("scorers are plain functions; an async scorer is not supported")
            scores.append((name, to_score(verdict)))
        except Exception as exc:  # a user's scorer may raise anything: it fails the case
            return Score(False, 0.0), names, f"scorer {name} raised {_describe(exc)}"
    if len(scores) == 1:
        return scores[0][1], names, None
    reasons = [f"{name}: {s.reason}" for name, s in scores if s.reason]
    combined = Score(
        passed=all(s.passed for _, s in scores),
        score=sum(s.score for _, s in scores) / len(scores),
        reason="; ".join(reasons) or None,
    )
    return combined, names, None


# -- running the cases -----------------------------------------------------------------


def _run_sync_cases(plan: _Plan, cases: list[dict[str, Any]], limit: int) -> list[CaseResult]:
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=min(limit, len(cases)), thread_name_prefix="provenant-eval"
    ) as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, _run_case_sync, plan, case)
            for case in cases
        ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _run_case_sync(plan: _Plan, case: dict[str, Any]) -> CaseResult:
    session = _open_session(plan, case)
    output: Any = None
    error: Optional[str] = None
    start = time.perf_counter()
    try:
        with session:
            output = plan.task(case.get("input"))
            if inspect.isawaitable(output):  # a sync callable handing back a coroutine
                output = _await_in_new_loop(output)
    except Exception as exc:  # the task's failure is the case's result, not ours
        error = _describe(exc)
    latency_ms = _elapsed_ms(start)
    return _finish_case(plan, case, session, output, error, latency_ms)


def _run_async_cases(plan: _Plan, cases: list[dict[str, Any]], limit: int) -> list[CaseResult]:
    async def run_all() -> list[CaseResult]:
        semaphore = asyncio.Semaphore(limit)
        runs = [_run_case_async(plan, case, semaphore) for case in cases]
        return list(await asyncio.gather(*runs))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_all())
    # Called from inside a running event loop (a notebook, an async test): that loop
    # cannot be re-entered, so the cases get a loop of their own on another thread.
    return _call_in_thread(lambda: asyncio.run(run_all()))


async def _run_case_async(
    plan: _Plan, case: dict[str, Any], semaphore: asyncio.Semaphore
) -> CaseResult:
    async with semaphore:
        session = _open_session(plan, case)
        output: Any = None
        error: Optional[str] = None
        start = time.perf_counter()
        try:
            async with session:
                output = plan.task(case.get("input"))
                if inspect.isawaitable(output):
                    output = await output
        except Exception as exc:  # the task's failure is the case's result, not ours
            error = _describe(exc)
        latency_ms = _elapsed_ms(start)
        return _finish_case(plan, case, session, output, error, latency_ms)


def _open_session(plan: _Plan, case: Mapping[str, Any]) -> Session:
    # An external id of its own keeps the case's session from joining a session of the
    # same agent that the caller may have open: every case gets its own session.
    return plan.client.session(
        plan.agent_id,
        external_id=str(uuid.uuid4()),
        metadata={"evalRunId": plan.run_id, "caseId": str(case.get("id"))},
    )


def _finish_case(
    plan: _Plan,
    case: dict[str, Any],
    session: Session,
    output: Any,
    error: Optional[str],
    latency_ms: int,
) -> CaseResult:
    if error is None:
        verdict, scoring_fn, error = _score(plan, case, output)
    else:
        verdict, scoring_fn = Score(False, 0.0), ",".join(n for n, _ in _scorers_for(plan, case))
    result = CaseResult(
        case_id=str(case.get("id")),
        name=str(case.get("name") or case.get("id")),
        input=case.get("input"),
        expected=case.get("expectedOutput"),
        output=_wire_output(output),
        passed=verdict.passed and error is None,
        score=verdict.score if error is None else 0.0,
        weight=_weight(case),
        latency_ms=latency_ms,
        token_count=_token_count(session),
        error=error,
        reason=verdict.reason,
        scoring_fn=scoring_fn,
        session_external_id=_external_id(session),
    )
    plan.progress.advance(result.passed)
    return result


# -- submitting ------------------------------------------------------------------------


def _submit(client: ProvenantClient, run_id: str, results: Sequence[CaseResult]) -> None:
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


# -- small helpers ---------------------------------------------------------------------


def _is_async(task: Task) -> bool:
    call = getattr(task, "__call__", None)  # noqa: B004 - async __call__ on an object
    return inspect.iscoroutinefunction(task) or inspect.iscoroutinefunction(call)


def _task_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or getattr(func, "__qualname__", None)
    return str(name) if name else type(func).__name__


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _elapsed_ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


def _weight(case: Mapping[str, Any]) -> float:
    weight = case.get("weight")
    if isinstance(weight, (int, float)) and not isinstance(weight, bool):
        return float(weight)
    return 1.0


def _number(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _wire_output(output: Any) -> Any:
    """The output as JSON, as the platform stores it; oversized outputs as truncated text."""
    try:
        value = _jsonish(output)
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        value = text = repr(output)
    if len(text) > _MAX_OUTPUT_BYTES:
        return text[:_MAX_OUTPUT_BYTES] + "... [truncated]"
    return value


def _token_count(session: Session) -> int:
    try:
        usage = session.usage
        return int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
    except Exception:  # a no-op session (tracing disabled) may know nothing
        return 0


def _external_id(session: Session) -> Optional[str]:
    try:
        value = session.external_id
    except Exception:  # a no-op session may have none
        return None
    return str(value) if value else None


def _await_in_new_loop(awaitable: Awaitable[Any]) -> Any:
    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())


def _call_in_thread(func: Callable[[], list[CaseResult]]) -> list[CaseResult]:
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(func)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="provenant-eval-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: list[CaseResult] = outcome["value"]
    return result
