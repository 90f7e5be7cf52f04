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
)

from provenant.evals._client import EvalClient
from provenant.evals._progress import Progress
from provenant.evals._report import CaseResult, EvalReport
from provenant.evals._scorers import Score
from provenant.evals._scoring import (
    NamedScorers,
    ScorersArg,
    callable_name,
    describe_error,
    normalise_scorers,
    score_case,
    scorer_names,
)
from provenant.evals._submit import submit_all, wire_output
from provenant.tracing._arguments import check_arguments

if TYPE_CHECKING:
    from provenant.tracing._session import Session

__all__ = ["Task", "run_suite"]

#: A task: called with a case's ``input``; sync, or ``async def``.
Task = Callable[[Any], Any]

_POLL_INTERVAL_S = 0.5
_WAIT_TIMEOUT_S = 300.0


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every case of one run shares."""

    client: EvalClient
    task: Task
    run_id: str
    agent_id: str
    scorers: NamedScorers
    progress: Progress


def run_suite(
    client: EvalClient,
    suite_id: str,
    task: Task,
    *,
    agent_id: Optional[str] = None,
    scorers: Optional[ScorersArg] = None,
    max_concurrency: int = 4,
    metadata: Optional[Mapping[str, Any]] = None,
    wait: bool = True,
) -> EvalReport:
    """:func:`provenant.evals.evaluate` through ``client`` (its arguments checked here)."""
    if not isinstance(suite_id, str):
        raise TypeError(f"suite_id must be a str; got {type(suite_id).__name__}.")
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise TypeError(f"max_concurrency must be an int; got {type(max_concurrency).__name__}.")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1; got {max_concurrency}.")
    if not callable(task):
        raise TypeError(f"task must be callable; got {type(task).__name__}.")
    check_arguments("evaluate()", {"agent_id": agent_id, "metadata": metadata})
    named_scorers = normalise_scorers(scorers)
    started = time.monotonic()

    suite = client.get_eval_suite(suite_id)
    cases: list[dict[str, Any]] = list(suite.get("cases") or [])
    if not cases:
        raise ValueError(f"eval suite {suite_id} has no cases; add some before evaluating.")
    agent = agent_id or client.settings.agent_id or callable_name(task)
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
    submit_all(client, run_id, results)
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
        error = describe_error(exc)
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
            error = describe_error(exc)
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
    verdict = Score(False, 0.0)
    if error is None:
        verdict, error = score_case(plan.scorers, case, output)
    result = CaseResult(
        case_id=str(case.get("id")),
        name=str(case.get("name") or case.get("id")),
        input=case.get("input"),
        expected=case.get("expectedOutput"),
        output=wire_output(output),
        passed=verdict.passed and error is None,
        score=verdict.score if error is None else 0.0,
        weight=_weight(case),
        latency_ms=latency_ms,
        token_count=_token_count(session),
        **_cost(session),
        error=error,
        reason=verdict.reason,
        scoring_fn=scorer_names(plan.scorers, case),
        session_external_id=_external_id(session),
    )
    plan.progress.advance(result.passed)
    return result


# -- small helpers ---------------------------------------------------------------------


def _is_async(task: Task) -> bool:
    call = getattr(task, "__call__", None)  # noqa: B004 - async __call__ on an object
    return inspect.iscoroutinefunction(task) or inspect.iscoroutinefunction(call)


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


def _cost(session: Session) -> dict[str, Any]:
    try:
        cost = session.cost
        return {"cost_usd": cost["cost_usd"], "cost_partial": bool(cost["cost_partial"])}
    except Exception:  # as _token_count: a no-op session may know nothing
        return {}


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
