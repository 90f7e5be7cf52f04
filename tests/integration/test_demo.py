"""`provenant demo`, run as the README runs it: a subprocess in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provenant import ProvenantClient

pytest.importorskip("anthropic")

_TIMEOUT_S = 90


def _clean_env() -> dict[str, str]:
    """The environment of a fresh machine: no Provenant or provider settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PROVENANT_", "ANTHROPIC_", "OPENAI_", "OTEL_"))
    }
    env["PYTHONWARNINGS"] = "error"
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    directory = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "provenant", "demo"],
        cwd=directory,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    return result, directory


def _recorded_session(directory: Path, stdout: str) -> dict[str, Any]:
    match = re.search(r"provenant sessions show ([0-9a-f-]{36})", stdout)
    assert match, stdout
    db = directory / ".provenant" / "provenant.db"
    with ProvenantClient(base_url=f"sqlite:///{db}", enabled=False) as client:
        return client.get_session(match.group(1))


def test_demo_exits_cleanly_and_prints_the_command_to_see_it_again(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """The demo exits 0 without a warning and ends with the `provenant sessions show` line."""
    result, _ = demo
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    assert result.stdout.rstrip().splitlines()[-1].startswith("  provenant sessions show ")


def test_demo_records_the_conversation_in_the_current_directory_store(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """The session lands in ./.provenant/provenant.db: system, tool round trip, two answers."""
    result, directory = demo
    session = _recorded_session(directory, result.stdout)
    assert session["status"] == "COMPLETED"
    assert session["agent"]["name"] == "Support Bot (demo)"
    assert session["userId"] == "demo-user"
    turns = session["turns"]
    assert [t["role"] for t in turns] == [
        "SYSTEM",
        "USER",
        "ASSISTANT",
        "TOOL",
        "ASSISTANT",
        "USER",
        "ASSISTANT",
    ]
    assert turns[1]["content"] == "Hi! Where is my order A1234?"
    [call] = turns[2]["toolCalls"]
    assert call["name"] == "lookup_order"
    assert call.get("input", call.get("arguments")) == {"order_id": "A1234"}
    assert turns[3]["content"]["tracking"] == "PC-88231"
    assert turns[3]["metadata"]["toolName"] == "lookup_order"
    assert "PC-88231" in turns[4]["content"]
    for turn in (turns[2], turns[4], turns[6]):
        assert turn["inputTokens"] > 0 and turn["outputTokens"] > 0
        assert turn["latencyMs"] is not None
        assert turn["metadata"]["provider"] == "anthropic"
    assert turns[4]["metadata"]["stream"] is True
    assert turns[4]["metadata"]["timeToFirstTokenMs"] >= 0
    assert "stream" not in turns[2]["metadata"] or turns[2]["metadata"]["stream"] is False


def test_demo_prints_the_transcript_read_back_from_the_store(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """The printed transcript shows each recorded turn with roles, tool call, tokens, latency."""
    result, directory = demo
    session = _recorded_session(directory, result.stdout)
    transcript = result.stdout.split("read back from it:", 1)[1]
    roles = re.findall(r"^\s+\d+\s+(SYSTEM|USER|ASSISTANT|TOOL)\b", transcript, re.MULTILINE)
    assert roles == [t["role"] for t in session["turns"]]
    assert session["id"] in transcript
    assert 'tool call lookup_order {"order_id": "A1234"}' in transcript
    for turn in session["turns"]:
        if turn["role"] == "ASSISTANT":
            figures = f"{turn['latencyMs']} ms · {turn['inputTokens']} in / "
            assert figures + f"{turn['outputTokens']} out tokens" in transcript
    assert "streamed, first token after" in transcript


def test_the_printed_command_shows_the_session_again(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """`provenant sessions show ID`, run where the demo ran, prints the same conversation."""
    result, directory = demo
    command = result.stdout.rstrip().splitlines()[-1].split()
    assert command[:3] == ["provenant", "sessions", "show"]
    shown = subprocess.run(
        [sys.executable, "-m", "provenant", *command[1:]],
        cwd=directory,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Support Bot (demo)" in shown.stdout
    assert "Hi! Where is my order A1234?" in shown.stdout
    assert "lookup_order" in shown.stdout


def test_demo_prints_what_each_call_and_the_session_cost(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """With the cost extra, each model call's line shows its recorded costUsd and the
    session's header line the session's total."""
    pytest.importorskip("genai_prices")
    from provenant._cost import format_usd

    result, directory = demo
    session = _recorded_session(directory, result.stdout)
    transcript = result.stdout.split("read back from it:", 1)[1]
    replies = [t for t in session["turns"] if t["role"] == "ASSISTANT"]
    costs = [turn["metadata"]["costUsd"] for turn in replies]
    assert all(cost > 0 for cost in costs)
    for turn, cost in zip(replies, costs):
        assert f"{turn['metadata']['model']} · {format_usd(cost)} · " in transcript
    assert session["costUsd"] == pytest.approx(sum(costs), rel=1e-12)
    assert f"turns: 7  cost: {format_usd(session['costUsd'])}\n" in transcript
