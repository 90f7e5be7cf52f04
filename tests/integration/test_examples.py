"""
Every script in examples/ runs offline, as its docstring says, and records what it claims.

Each example runs in a subprocess through ``examples/run_offline.py`` (the scripted fake
provider on 127.0.0.1, dummy provider keys) into its own embedded store, and the test
reads that store back with a ``ProvenantClient``.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provenant import ProvenantClient

pytest.importorskip("anthropic")
pytest.importorskip("openai")

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = (
    "anthropic_quickstart",
    "openai_quickstart",
    "multi_turn_session",
    "agent_with_tools",
    "async_agent",
    "streaming",
    "evaluation_run",
    "threads",
    "cost",
)
_TIMEOUT_S = 100
_PARALLEL_RUNS = 4


class Run:
    """One example's run: its output and the store it recorded into."""

    def __init__(self, result: subprocess.CompletedProcess[str], db: Path) -> None:
        self.result = result
        self.db = db

    def client(self) -> ProvenantClient:
        return ProvenantClient(base_url=f"sqlite:///{self.db}", enabled=False)

    def sessions(self) -> list[dict[str, Any]]:
        """Every recorded session with its turns, oldest first."""
        with self.client() as client:
            listed = client.list_sessions()
            return [client.get_session(s["id"]) for s in reversed(listed)]


def _env(db: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PROVENANT_", "ANTHROPIC_", "OPENAI_", "OTEL_"))
    }
    env["PROVENANT_BASE_URL"] = f"sqlite:///{db}"
    env["PYTHONWARNINGS"] = "error"
    return env


def _run(name: str, directory: Path) -> Run:
    db = directory / f"{name}.db"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / "run_offline.py"), str(EXAMPLES_DIR / f"{name}.py")],
        cwd=directory,
        env=_env(db),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    return Run(result, db)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    directory = tmp_path_factory.mktemp("examples")
    with concurrent.futures.ThreadPoolExecutor(max_workers=_PARALLEL_RUNS) as pool:
        futures = {name: pool.submit(_run, name, directory) for name in EXAMPLES}
        return {name: future.result() for name, future in futures.items()}


def _roles(session: dict[str, Any]) -> list[str]:
    return [turn["role"] for turn in session["turns"]]


def _assistant_turns(session: dict[str, Any]) -> list[dict[str, Any]]:
    return [turn for turn in session["turns"] if turn["role"] == "ASSISTANT"]


def test_every_example_is_tested() -> None:
    """Each script in examples/ (but the runner) is in this test's list."""
    scripts = {p.stem for p in EXAMPLES_DIR.glob("*.py")} - {"run_offline"}
    assert scripts == set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_cleanly(runs: dict[str, Run], name: str) -> None:
    """The example exits 0 with warnings as errors and writes nothing to standard error."""
    result = runs[name].result
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_anthropic_quickstart_records_one_single_call_session(runs: dict[str, Run]) -> None:
    """One call outside a session is one ended session: SYSTEM, USER, ASSISTANT with usage."""
    [session] = runs["anthropic_quickstart"].sessions()
    assert session["status"] == "COMPLETED"
    assert session["agent"]["name"] == "Quickstart Bot"
    assert _roles(session) == ["SYSTEM", "USER", "ASSISTANT"]
    reply = session["turns"][2]
    assert reply["content"] == "You said: Say hello to Provenant in five words."
    assert reply["inputTokens"] > 0 and reply["outputTokens"] > 0
    assert reply["latencyMs"] is not None
    assert reply["metadata"]["model"] == "claude-sonnet-5-5"
    assert reply["metadata"]["provider"] == "anthropic"


def test_openai_quickstart_records_chat_and_responses_calls(runs: dict[str, Run]) -> None:
    """A Chat Completions call and a Responses call are two sessions with their system prompts."""
    sessions = runs["openai_quickstart"].sessions()
    assert [_roles(s) for s in sessions] == [["SYSTEM", "USER", "ASSISTANT"]] * 2
    chat, responses = sessions
    assert chat["turns"][0]["content"] == "You are a friendly assistant."
    assert responses["turns"][0]["content"] == "Answer in one sentence."
    assert responses["turns"][2]["content"] == "You said: What does an AgentOps platform record?"
    for session in sessions:
        assert session["turns"][2]["metadata"]["provider"] == "openai"
        assert session["turns"][2]["outputTokens"] > 0


def test_multi_turn_session_records_each_message_once(runs: dict[str, Run]) -> None:
    """Three exchanges with a growing history record SYSTEM then three USER/ASSISTANT pairs."""
    [session] = runs["multi_turn_session"].sessions()
    assert session["userId"] == "customer-42"
    assert session["tags"] == ["example"]
    assert _roles(session) == ["SYSTEM"] + ["USER", "ASSISTANT"] * 3
    assert [t["content"] for t in session["turns"] if t["role"] == "USER"] == [
        "Hi, I ordered a lamp last week.",
        "It arrived broken. Can I get a new one?",
        "Great, thank you!",
    ]
    assert f"provenant sessions show {session['id']}" in runs["multi_turn_session"].result.stdout


def test_agent_with_tools_records_a_tool_round_trip_per_question(runs: dict[str, Run]) -> None:
    """Each traced call is a session: USER, ASSISTANT with the tool call, TOOL, ASSISTANT."""
    sessions = runs["agent_with_tools"].sessions()
    assert len(sessions) == 2
    for session, city in zip(sessions, ("Paris", "Oslo")):
        assert session["agent"]["name"] == "Weather Bot"
        assert session["metadata"]["function"] == "answer"
        assert city in session["metadata"]["input"]["question"]
        assert _roles(session) == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
        [call] = session["turns"][1]["toolCalls"]
        assert call["name"] == "get_weather"
        assert call.get("arguments", call.get("input")) == {"city": city}
        tool = session["turns"][2]
        assert tool["content"] == {"city": city, "sky": "sunny", "temperature_c": 21}
        assert tool["metadata"]["toolName"] == "get_weather"
        assert tool["metadata"]["toolInput"] == {"city": city}
        for turn in _assistant_turns(session):
            assert turn["metadata"]["span"] == ["ask_model"]


def test_async_agent_keeps_concurrent_conversations_apart(runs: dict[str, Run]) -> None:
    """Five concurrent conversations are five sessions, each holding only its own turns."""
    sessions = runs["async_agent"].sessions()
    assert sorted(s["userId"] for s in sessions) == [f"customer-{n}" for n in range(1, 6)]
    for session in sessions:
        number = session["userId"].split("-")[1]
        assert _roles(session) == ["USER", "ASSISTANT", "USER", "ASSISTANT"]
        for turn in session["turns"]:
            assert f" {number}" in turn["content"] or f"({number})" in turn["content"]


def test_streaming_records_each_stream_when_it_ends(runs: dict[str, Run]) -> None:
    """Helper, raw-event and chat streams are recorded; the one stopped early is incomplete."""
    [session] = runs["streaming"].sessions()
    assert _roles(session) == ["USER", "ASSISTANT"] * 4
    replies = _assistant_turns(session)
    for reply in replies:
        assert reply["metadata"]["stream"] is True
        assert reply["metadata"]["timeToFirstTokenMs"] >= 0
    for reply in replies[:3]:
        assert reply["metadata"]["incomplete"] is False
        assert reply["outputTokens"] > 0
        assert reply["content"].startswith("You said: ")
    assert [r["metadata"]["provider"] for r in replies] == ["anthropic"] * 2 + ["openai"] * 2
    assert replies[3]["metadata"]["incomplete"] is True


def test_evaluation_run_submits_a_scored_run_linked_to_its_sessions(runs: dict[str, Run]) -> None:
    """The eval run completes with every case passed, and each case's LLM call is in its session."""
    run = runs["evaluation_run"]
    assert "3/3 passed (100.0%)" in run.result.stdout
    with run.client() as client:
        [suite] = client.list_eval_suites()
        [eval_run] = client.list_eval_runs(suite_id=suite["id"])
        eval_run = client.get_eval_run(eval_run["id"])
    assert eval_run["status"] == "COMPLETED"
    assert eval_run["passRate"] == 1.0
    assert len(eval_run["results"]) == 3
    sessions = run.sessions()
    assert {s["metadata"]["caseId"] for s in sessions} == {r["caseId"] for r in eval_run["results"]}
    for session in sessions:
        assert session["metadata"]["evalRunId"] == eval_run["id"]
        assert _roles(session) == ["USER", "ASSISTANT"]
    for result in eval_run["results"]:
        assert result["passed"] is True
        assert result["tokenCount"] > 0


def test_threads_record_into_the_submitting_session(runs: dict[str, Run]) -> None:
    """Calls from a ThreadPoolExecutor and a wrap_context thread all land in the one session."""
    [session] = runs["threads"].sessions()
    assert session["metadata"] == {"batch": "morning"}
    users = sorted(t["content"] for t in session["turns"] if t["role"] == "USER")
    assert users == sorted(
        [f"Summarise ticket {n}." for n in (101, 102, 103, 104)] + ["Which ticket is urgent?"]
    )
    replies = sorted(t["content"] for t in _assistant_turns(session))
    assert replies == sorted(f"You said: {text}" for text in users)


def test_evaluation_task_gates_ci_with_the_documented_command(runs: dict[str, Run]) -> None:
    """`provenant eval run --task examples.evaluation_run:answer` passes the example's suite."""
    run = runs["evaluation_run"]
    with run.client() as client:
        [suite] = client.list_eval_suites()
    gate = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES_DIR / "run_offline.py"),
            "-m",
            "provenant",
            "eval",
            "run",
            "--suite",
            suite["id"],
            "--task",
            "examples.evaluation_run:answer",
            "--min-pass-rate",
            "0.9",
        ],
        cwd=EXAMPLES_DIR.parent,
        env=_env(run.db),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    assert gate.returncode == 0, gate.stderr
    assert "PASS: pass rate 100.0% >= minimum 90.0%" in gate.stdout


def test_cost_prices_each_call_and_totals_the_session(runs: dict[str, Run]) -> None:
    """The call of the model given a price of its own is priced by it, the other by the
    table, and the printed total is the session's costUsd."""
    pytest.importorskip("genai_prices")
    [session] = runs["cost"].sessions()
    claude, gpt = _assistant_turns(session)
    expected = (claude["inputTokens"] * 2.4 + claude["outputTokens"] * 12) / 1e6
    assert claude["metadata"]["costUsd"] == pytest.approx(expected, rel=1e-12)
    assert gpt["metadata"]["costUsd"] > 0
    assert session["costUsd"] == pytest.approx(
        claude["metadata"]["costUsd"] + gpt["metadata"]["costUsd"], rel=1e-12
    )
    assert f"The session cost ${session['costUsd']:.6f}." in runs["cost"].result.stdout
