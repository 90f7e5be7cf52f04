"""evaluate() against the real local server: running, scoring, submitting, linking sessions."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from typing import Any

import pytest

import provenant
from provenant import ProvenantClient
from provenant.errors import EvalTimeoutError
from provenant.server import LocalServer

_KINDS = ("exact_match", "contains", "json_match", "regex")


def _make_suite(client: ProvenantClient, cases: list[dict[str, Any]]) -> str:
    suite_id = str(client.create_eval_suite("suite under test")["id"])
    for index, case in enumerate(cases):
        client.add_eval_case(
            suite_id,
            case.get("name", f"case {index}"),
            case["input"],
            case.get("expected"),
            scoring_fn=case.get("scoring_fn"),
            weight=case.get("weight"),
        )
    return suite_id


def _twenty_cases() -> list[dict[str, Any]]:
    cases = []
    for n in range(20):
        kind = _KINDS[n % 4]
        expected: Any = {
            "exact_match": {"answer": str(2 * n)},
            "contains": {"contains": str(2 * n)},
            "json_match": {"answer": 2 * n},
            "regex": {"pattern": r"^id-\d+$"},
        }[kind]
        cases.append(
            {
                "name": f"n={n}",
                "input": {"n": n, "kind": kind},
                "expected": expected,
                "scoring_fn": kind,
                "weight": 2.0 if n % 5 == 0 else 1.0,
            }
        )
    return cases


def _deterministic_task(case_input: dict[str, Any]) -> str:
    """Right for every n not divisible by 5; records one LLM turn of n + 1 tokens."""
    n, kind = case_input["n"], case_input["kind"]
    session = provenant.current_session()
    assert session is not None
    session.add_turn("ASSISTANT", f"thinking about {n}", input_tokens=n, output_tokens=1)
    if n % 5 == 0:
        return "wrong"
    return {
        "exact_match": str(2 * n),
        "contains": f"the result is {2 * n}!",
        "json_match": json.dumps({"answer": 2 * n, "extra": True}),
        "regex": f"id-{2 * n}",
    }[kind]


def test_twenty_cases_give_exact_pass_rate_and_weighted_score(
    provenant_client: ProvenantClient,
) -> None:
    """20 deterministic cases give the exact pass rate and scores here and on the server."""
    suite_id = _make_suite(provenant_client, _twenty_cases())

    report = provenant.evaluate(
        suite_id, _deterministic_task, agent_id="Eval Bot", client=provenant_client
    )

    assert (report.total, report.passed, report.failed, report.errored) == (20, 16, 4, 0)
    assert report.pass_rate == 0.8
    assert report.mean_score == 0.8
    assert report.weighted_score == pytest.approx(16 / 24)
    assert report.status == "COMPLETED"
    assert report.server_pass_rate == 0.8
    assert report.server_score == pytest.approx(0.8)
    assert [r.name for r in report.results] == [f"n={n}" for n in range(20)]
    assert [r.token_count for r in report.results] == [n + 1 for n in range(20)]
    assert [r.passed for r in report.results] == [n % 5 != 0 for n in range(20)]

    run = provenant_client.get_eval_run(report.run_id)
    assert run["status"] == "COMPLETED"
    assert run["passRate"] == 0.8
    assert run["score"] == pytest.approx(0.8)
    by_name = {r["case"]["name"]: r for r in run["results"]}
    assert len(by_name) == 20
    assert by_name["n=1"]["actualOutput"] == "the result is 2!"
    assert by_name["n=2"]["actualOutput"] == json.dumps({"answer": 4, "extra": True})
    assert by_name["n=3"]["tokenCount"] == 4
    assert by_name["n=3"]["metadata"]["scoringFn"] == "regex"
    assert by_name["n=5"]["passed"] is False
    assert all(isinstance(r["latencyMs"], int) for r in run["results"])


def test_each_case_runs_in_its_own_session_linked_to_the_run(
    provenant_client: ProvenantClient,
) -> None:
    """Every case's session carries evalRunId and caseId and holds the turns the task recorded."""
    suite_id = _make_suite(
        provenant_client,
        [{"input": {"n": n, "kind": "exact_match"}, "expected": str(2 * n)} for n in (1, 2, 3)],
    )

    # Opened inside a session of the same agent, the cases still get sessions of their own.
    with provenant_client.session("Eval Bot"):
        report = provenant.evaluate(
            suite_id, _deterministic_task, agent_id="Eval Bot", client=provenant_client
        )
    assert provenant_client.flush(timeout=10)

    sessions = [
        provenant_client.get_session(s["id"])
        for s in provenant_client.list_sessions(report.agent_id)
    ]
    linked = {s["metadata"]["caseId"]: s for s in sessions if "evalRunId" in s["metadata"]}
    assert {r.case_id for r in report.results} == set(linked)
    for result in report.results:
        session = linked[result.case_id]
        assert session["metadata"]["evalRunId"] == report.run_id
        assert session["externalId"] == result.session_external_id
        assert [t["role"] for t in session["turns"]] == ["ASSISTANT"]


def test_async_task_runs_cases_concurrently_up_to_the_bound(
    provenant_client: ProvenantClient,
) -> None:
    """An async task runs on one loop, cases overlapping up to max_concurrency at once."""
    suite_id = _make_suite(
        provenant_client, [{"input": {"n": n}, "expected": str(n)} for n in range(8)]
    )
    running = 0
    peak = 0
    loops: set[int] = set()

    async def task(case_input: dict[str, Any]) -> str:
        nonlocal running, peak
        loops.add(id(asyncio.get_running_loop()))
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return str(case_input["n"])

    report = provenant.evaluate(
        suite_id, task, agent_id="Async Bot", max_concurrency=3, client=provenant_client
    )

    assert report.pass_rate == 1.0
    assert peak == 3
    assert len(loops) == 1
    assert all(r.latency_ms >= 50 for r in report.results)


def test_sync_task_runs_in_a_bounded_thread_pool_carrying_context(
    provenant_client: ProvenantClient,
) -> None:
    """A sync task runs in at most max_concurrency threads at once, each case in its own session."""
    suite_id = _make_suite(
        provenant_client, [{"input": {"n": n}, "expected": str(n)} for n in range(6)]
    )
    lock = threading.Lock()
    running = 0
    peak = 0
    sessions: set[str] = set()

    def task(case_input: dict[str, Any]) -> str:
        nonlocal running, peak
        session = provenant.current_session()
        assert session is not None
        with lock:
            sessions.add(session.external_id)
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return str(case_input["n"])

    report = provenant.evaluate(
        suite_id, task, agent_id="Sync Bot", max_concurrency=2, client=provenant_client
    )

    assert report.pass_rate == 1.0
    assert peak == 2
    assert sessions == {r.session_external_id for r in report.results}
    assert len(sessions) == 6


def test_failing_task_and_failing_scorer_fail_only_their_case(
    provenant_client: ProvenantClient,
) -> None:
    """A raising task or scorer fails only its own case, saying which, and the run goes on."""
    suite_id = _make_suite(
        provenant_client,
        [
            {"name": "ok", "input": {"q": "ok"}, "expected": "ok"},
            {"name": "task raises", "input": {"q": "boom"}, "expected": "boom"},
            {"name": "scorer raises", "input": {"q": "divide"}, "expected": "divide"},
        ],
    )

    def task(case_input: dict[str, Any]) -> str:
        if case_input["q"] == "boom":
            raise RuntimeError("the model is down")
        return str(case_input["q"])

    def strict(output: Any, expected: Any, case: dict[str, Any]) -> bool:
        if output == "divide":
            return bool(1 / 0)
        return bool(output == expected)

    report = provenant.evaluate(
        suite_id, task, agent_id="Fragile Bot", scorers=[strict], client=provenant_client
    )

    rows = {r.name: r for r in report.results}
    assert rows["ok"].passed and rows["ok"].error is None
    assert not rows["task raises"].passed
    assert rows["task raises"].error == "RuntimeError: the model is down"
    assert rows["task raises"].output is None
    assert not rows["scorer raises"].passed
    assert rows["scorer raises"].output == "divide"
    assert rows["scorer raises"].error == "scorer strict raised ZeroDivisionError: division by zero"
    assert report.errored == 2
    assert report.pass_rate == pytest.approx(1 / 3)
    errors = {
        r["case"]["name"]: r["error"]
        for r in provenant_client.get_eval_run(report.run_id)["results"]
    }
    assert errors == {
        "ok": None,
        "task raises": "RuntimeError: the model is down",
        "scorer raises": "scorer strict raised ZeroDivisionError: division by zero",
    }


def test_scores_that_are_not_finite_or_outside_0_1_fail_their_case_as_scorer_errors(
    provenant_client: ProvenantClient,
) -> None:
    """A scorer returning inf, NaN or a score outside 0..1 fails that case as a scorer error."""
    returned: dict[str, Any] = {
        "inf": float("inf"),
        "nan": float("nan"),
        "above": 1.5,
        "below": -0.1,
        "dict inf": {"passed": True, "score": float("-inf")},
        "dict above": {"score": 2},
        "ok": 0.75,
    }
    suite_id = _make_suite(
        provenant_client, [{"name": name, "input": {"q": name}} for name in returned]
    )

    def odd(output: Any, expected: Any, case: dict[str, Any]) -> Any:
        return returned[output]

    report = provenant.evaluate(
        suite_id, lambda i: i["q"], agent_id="Odd Bot", scorers=[odd], client=provenant_client
    )

    rows = {r.name: r for r in report.results}
    assert (rows["ok"].passed, rows["ok"].score, rows["ok"].error) == (True, 0.75, None)
    for name in returned.keys() - {"ok"}:
        row = rows[name]
        assert (row.passed, row.score) == (False, 0.0), name
        assert row.error is not None and row.error.startswith("scorer odd raised ValueError: ")
    run = provenant_client.get_eval_run(report.run_id)
    assert run["status"] == "COMPLETED"
    assert run["passRate"] == pytest.approx(1 / 7)
    assert run["score"] == pytest.approx(0.75 / 7)


def test_custom_scorers_combine_and_keep_their_reasons(provenant_client: ProvenantClient) -> None:
    """Several scorers pass a case only together; its score is their mean and reasons are kept."""
    suite_id = _make_suite(provenant_client, [{"input": {"q": "Paris"}, "expected": "Paris"}])

    def half(output: Any, expected: Any, case: dict[str, Any]) -> dict[str, Any]:
        return {"passed": True, "score": 0.5, "reason": "half right"}

    report = provenant.evaluate(
        suite_id,
        lambda case_input: case_input["q"],
        agent_id="Scored Bot",
        scorers={"exact": "exact_match", "half": half},
        client=provenant_client,
    )

    (row,) = report.results
    assert (row.passed, row.score, row.reason) == (True, 0.75, "half: half right")
    assert row.scoring_fn == "exact,half"


def test_unknown_scoring_fn_fails_the_case_with_a_hint(provenant_client: ProvenantClient) -> None:
    """A case whose scoringFn has no client-side scorer fails, telling the user to pass scorers=."""
    suite_id = _make_suite(
        provenant_client,
        [{"input": {"q": "x"}, "expected": "x", "scoring_fn": "llm_judge"}],
    )

    report = provenant.evaluate(
        suite_id, lambda i: i["q"], agent_id="Judge Bot", client=provenant_client
    )

    (row,) = report.results
    assert not row.passed
    assert row.error is not None and "'llm_judge'" in row.error and "scorers=" in row.error


def test_unknown_builtin_name_is_refused_before_any_run(provenant_client: ProvenantClient) -> None:
    """A misspelt built-in scorer name raises ValueError and creates no run."""
    suite_id = _make_suite(provenant_client, [{"input": {"q": "x"}, "expected": "x"}])

    with pytest.raises(ValueError, match="unknown scorer 'exact'"):
        provenant.evaluate(suite_id, lambda i: i, scorers="exact", client=provenant_client)

    assert provenant_client.list_eval_runs(suite_id=suite_id) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"suite_id": None}, "suite_id must be a str; got NoneType"),
        ({"max_concurrency": "2"}, "max_concurrency must be an int; got str"),
        ({"agent_id": 5}, "agent_id must be a str or None, not int"),
        ({"metadata": "x"}, "metadata must be a mapping"),
    ],
)
def test_arguments_of_the_wrong_type_raise_a_type_error_before_any_run(
    provenant_client: ProvenantClient, arguments: dict[str, Any], message: str
) -> None:
    """evaluate() names an argument of the wrong type before it creates a run."""
    suite_id = _make_suite(provenant_client, [{"input": {"q": "x"}, "expected": "x"}])
    call: dict[str, Any] = {"suite_id": suite_id, "task": lambda i: i, **arguments}

    with pytest.raises(TypeError, match=message):
        provenant.evaluate(client=provenant_client, **call)

    assert provenant_client.list_eval_runs(suite_id=suite_id) == []


def test_module_level_evaluate_uses_the_default_client(
    provenant_server: LocalServer, provenant_api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """provenant.evaluate() without client= uses the default client; no progress off a TTY."""
    client = provenant.configure(base_url=provenant_server.url, api_key=provenant_api_key)
    try:
        suite_id = _make_suite(client, [{"input": {"q": "x"}, "expected": "x"}])
        report = provenant.evaluate(suite_id, lambda i: i["q"], agent_id="Default Bot", wait=False)
    finally:
        provenant.shutdown()

    assert report.status is None
    assert report.passed == 1
    assert capsys.readouterr().err == ""


def test_wait_for_completion_times_out_naming_run_and_status(
    provenant_client: ProvenantClient,
) -> None:
    """A run without results stays QUEUED, and waiting for it raises a TimeoutError naming it."""
    suite_id = _make_suite(provenant_client, [{"input": {"q": "x"}, "expected": "x"}])
    run_id = str(provenant_client.create_eval_run(suite_id, "Idle Bot")["id"])

    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        provenant_client.wait_for_completion(
            run_id, poll_interval_seconds=0.05, timeout_seconds=0.3
        )

    assert time.monotonic() - started < 2.0
    assert isinstance(caught.value, EvalTimeoutError)
    assert str(caught.value) == (
        f"eval run {run_id} did not complete within 0.3 s; its last status was QUEUED."
    )
    assert (caught.value.run_id, caught.value.last_status) == (run_id, "QUEUED")


def test_empty_suite_is_refused(provenant_client: ProvenantClient) -> None:
    """Evaluating a suite without cases raises ValueError rather than leave a run QUEUED."""
    suite_id = str(provenant_client.create_eval_suite("empty")["id"])
    with pytest.raises(ValueError, match="has no cases"):
        provenant.evaluate(suite_id, lambda i: i, client=provenant_client)


_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_tasks_see_the_callers_context(provenant_client: ProvenantClient, flavour: str) -> None:
    """Context variables set by the caller are visible to the task, in threads and in tasks."""
    suite_id = _make_suite(
        provenant_client, [{"input": {"n": n}, "expected": "req-1"} for n in range(3)]
    )

    def sync_task(case_input: dict[str, Any]) -> str:
        return _REQUEST_ID.get()

    async def async_task(case_input: dict[str, Any]) -> str:
        return _REQUEST_ID.get()

    token = _REQUEST_ID.set("req-1")
    try:
        report = provenant.evaluate(
            suite_id,
            sync_task if flavour == "sync" else async_task,
            agent_id="Context Bot",
            client=provenant_client,
        )
    finally:
        _REQUEST_ID.reset(token)

    assert report.pass_rate == 1.0


def test_async_task_from_inside_a_running_event_loop(provenant_client: ProvenantClient) -> None:
    """Called from a coroutine, evaluate() still runs an async task's cases to completion."""
    suite_id = _make_suite(
        provenant_client, [{"input": {"n": n}, "expected": str(n)} for n in range(3)]
    )

    async def task(case_input: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        return str(case_input["n"])

    async def caller() -> float:
        report = provenant.evaluate(suite_id, task, agent_id="Loop Bot", client=provenant_client)
        return report.pass_rate

    assert asyncio.run(caller()) == 1.0


def test_async_scorer_fails_the_case_saying_why(provenant_client: ProvenantClient) -> None:
    """An async scorer fails its case with a scorer error, without an un-awaited warning."""
    suite_id = _make_suite(provenant_client, [{"input": {"q": "x"}, "expected": "x"}])

    async def judge(output: Any, expected: Any, case: dict[str, Any]) -> bool:
        return True

    report = provenant.evaluate(
        suite_id,
        lambda i: i["q"],
        agent_id="Judge Bot",
        scorers=judge,  # type: ignore[arg-type]  # what the type checker would refuse
        client=provenant_client,
    )

    (row,) = report.results
    assert not row.passed
    assert row.error == (
        "scorer judge raised TypeError: scorers are plain functions; "
        "an async scorer is not supported"
    )


def test_large_outputs_are_sent_in_chunks_and_truncated(provenant_client: ProvenantClient) -> None:
    """Outputs too big for one request go in several; one over 1 MB is sent truncated."""
    sizes = {"a": 900_000, "b": 900_000, "c": 900_000, "huge": 1_200_000}
    suite_id = _make_suite(
        provenant_client,
        [{"name": name, "input": {"name": name}, "expected": "-"} for name in sizes],
    )

    report = provenant.evaluate(
        suite_id,
        lambda i: "x" * sizes[i["name"]],
        agent_id="Verbose Bot",
        scorers=lambda output, expected, case: True,
        client=provenant_client,
    )

    run = provenant_client.get_eval_run(report.run_id)
    outputs = {r["case"]["name"]: r["actualOutput"] for r in run["results"]}
    assert len(run["results"]) == 4 and run["passRate"] == 1.0
    assert outputs["a"] == "x" * 900_000
    assert outputs["huge"] == "x" * 1_000_000 + "... [truncated]"


def test_outputs_json_cannot_hold_are_recorded_safely_and_every_result_submitted(
    provenant_client: ProvenantClient,
) -> None:
    """NaN, a cycle or an integer too long to write never stop a run: each output is
    recorded in a safe form and every result reaches the platform."""
    loop: list[Any] = []
    loop.append(loop)
    outputs: dict[str, Any] = {"nan": float("nan"), "loop": loop, "long": 10**5000, "ok": 1}
    suite_id = _make_suite(
        provenant_client,
        [{"name": name, "input": {"name": name}, "expected": "-"} for name in outputs],
    )

    report = provenant.evaluate(
        suite_id,
        lambda i: outputs[i["name"]],
        agent_id="Odd Bot",
        scorers=lambda output, expected, case: True,
        client=provenant_client,
    )

    run = provenant_client.get_eval_run(report.run_id)
    stored = {r["case"]["name"]: r["actualOutput"] for r in run["results"]}
    assert stored == {"nan": "nan", "loop": ["<cycle>"], "long": "<int of 16610 bits>", "ok": 1}
    assert run["passRate"] == 1.0


def test_client_evaluate_runs_with_that_client(provenant_client: ProvenantClient) -> None:
    """ProvenantClient.evaluate() runs the suite on that client, as evaluate(client=...) does."""
    suite_id = _make_suite(provenant_client, [{"input": {"q": "x"}, "expected": "x"}])

    report = provenant_client.evaluate(suite_id, lambda i: i["q"], agent_id="Method Bot")

    assert report.pass_rate == 1.0
    assert provenant_client.get_eval_run(report.run_id)["status"] == "COMPLETED"
