"""`provenant agents list`, `sessions list` and `sessions show`, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from provenant import ProvenantClient
from provenant._cli import main
from provenant.server import LocalServer


def run_cli(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    return subprocess.run(
        [sys.executable, "-m", "provenant", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def call_cli(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command in this process (the same main() the subprocess runs), for speed."""
    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), status, captured.out, captured.err)


def record_conversation(client: ProvenantClient) -> dict[str, Any]:
    """Record a small support conversation and another agent's empty session."""
    session = client.create_session(
        "Support Bot", user_id="user-7", external_id="conv-42", metadata={"plan": "pro"}
    )
    sid = session["id"]
    client.add_turn(sid, "USER", "What is 2+2?")
    client.add_turn(
        sid,
        "ASSISTANT",
        "Let me add.",
        tool_calls=[{"id": "call-1", "name": "add", "input": {"a": 2, "b": 2}}],
        latency_ms=321,
        input_tokens=11,
        output_tokens=7,
        metadata={"model": "claude-test", "provider": "anthropic"},
    )
    client.add_turn(sid, "TOOL", {"result": 4})
    client.add_turn(sid, "ASSISTANT", "It is 4.", latency_ms=99, input_tokens=20, output_tokens=3)
    client.end_session(sid)
    other = client.create_session("Billing Bot", user_id="user-8")
    return {"session": sid, "other": other["id"]}


@pytest.fixture(params=["server", "sqlite"])
def destination(
    request: pytest.FixtureRequest, provenant_server: LocalServer, tmp_path: Path
) -> tuple[list[str], dict[str, Any]]:
    """Destination options of a recorded store: a started server, or a temp sqlite:/// file."""
    if request.param == "server":
        key = provenant_server.create_api_key()
        options = ["--base-url", provenant_server.url, "--api-key", key]
        client = ProvenantClient(base_url=provenant_server.url, api_key=key, enabled=False)
    else:
        url = f"sqlite:///{tmp_path / 'browse.db'}"
        options = ["--base-url", url]
        client = ProvenantClient(base_url=url, enabled=False)
    try:
        ids = record_conversation(client)
    finally:
        client.shutdown()
    return options, ids


def test_agents_list(destination: tuple[list[str], dict[str, Any]]) -> None:
    """agents list prints a table with each recorded agent's id, name and slug."""
    options, _ids = destination
    result = run_cli("agents", "list", *options)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.strip().splitlines()
    assert header.split()[:3] == ["ID", "NAME", "SLUG"]
    assert len(rows) == 2
    assert any("Support Bot" in row and "support-bot" in row for row in rows)
    assert any("Billing Bot" in row and "billing-bot" in row for row in rows)


def test_agents_list_json(
    destination: tuple[list[str], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """agents list --json prints the decoded agents."""
    options, _ids = destination
    result = call_cli(capsys, "agents", "list", "--json", *options)
    assert result.returncode == 0, result.stderr
    agents = json.loads(result.stdout)
    assert {agent["name"] for agent in agents} == {"Support Bot", "Billing Bot"}
    assert all(agent["tags"] == [] for agent in agents)


def test_sessions_list(destination: tuple[list[str], dict[str, Any]]) -> None:
    """sessions list prints every session, newest first, with agent, status, user and turns."""
    options, ids = destination
    result = run_cli("sessions", "list", *options)
    assert result.returncode == 0, result.stderr
    header, first, second = result.stdout.strip().splitlines()
    assert header.split()[:5] == ["ID", "AGENT", "STATUS", "USER", "TURNS"]
    assert first.split()[:4] == [ids["other"], "Billing", "Bot", "ACTIVE"]
    assert second.split()[:6] == [ids["session"], "Support", "Bot", "COMPLETED", "user-7", "4"]


@pytest.mark.parametrize("agent", ["Support Bot", "support-bot"])
def test_sessions_list_by_agent(
    destination: tuple[list[str], dict[str, Any]], agent: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """sessions list --agent keeps only that agent's sessions, found by name or slug."""
    options, ids = destination
    result = call_cli(capsys, "sessions", "list", "--agent", agent, *options)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(ids["session"])


def test_sessions_list_by_cancelled_status(
    provenant_server: LocalServer,
    provenant_api_key: str,
    provenant_client: ProvenantClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """sessions list --status CANCELLED keeps only the sessions ended as CANCELLED."""
    cancelled = provenant_client.create_session("Support Bot")["id"]
    provenant_client.end_session(cancelled, "CANCELLED")
    provenant_client.end_session(provenant_client.create_session("Support Bot")["id"])
    provenant_client.create_session("Support Bot")
    result = call_cli(
        capsys, "sessions", "list", "--status", "CANCELLED", "--json",
        "--base-url", provenant_server.url, "--api-key", provenant_api_key,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [s["id"] for s in json.loads(result.stdout)] == [cancelled]


def test_sessions_list_unknown_agent(
    destination: tuple[list[str], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """sessions list --agent with an unknown name fails with status 1 and creates no agent."""
    options, _ids = destination
    result = call_cli(capsys, "sessions", "list", "--agent", "Nobody", *options)
    assert result.returncode == 1
    assert "No agent named 'Nobody'" in result.stderr
    agents = json.loads(call_cli(capsys, "agents", "list", "--json", *options).stdout)
    assert "Nobody" not in {agent["name"] for agent in agents}


def test_sessions_show(destination: tuple[list[str], dict[str, Any]]) -> None:
    """sessions show prints the header and each turn's role, content, tools, tokens, latency."""
    options, ids = destination
    result = run_cli("sessions", "show", ids["session"], *options)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Session {ids['session']}" in out
    assert "Agent:    Support Bot" in out
    assert "Status:   COMPLETED" in out
    assert "User:     user-7" in out
    assert "External: conv-42" in out
    assert "Started:  20" in out and "Ended:    20" in out
    assert "4 turns, 41 tokens (31 in / 10 out), 420 ms" in out
    blocks = out.split("\n\n")[1:]
    assert [block.split()[1] for block in blocks] == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    assert "What is 2+2?" in blocks[0]
    assert "321 ms" in blocks[1] and "11 in / 7 out tokens" in blocks[1]
    assert "model claude-test" in blocks[1]
    assert '-> tool call add({"a": 2, "b": 2})  (id call-1)' in blocks[1]
    assert '"result": 4' in blocks[2]
    assert "99 ms" in blocks[3] and "It is 4." in blocks[3]


def test_sessions_show_by_id_prefix(
    destination: tuple[list[str], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """sessions show accepts the unique start of a session id."""
    options, ids = destination
    result = call_cli(capsys, "sessions", "show", ids["session"][:8], *options)
    assert result.returncode == 0, result.stderr
    assert f"Session {ids['session']}" in result.stdout


def test_sessions_show_json(
    destination: tuple[list[str], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """sessions show --json prints the session with decoded turns."""
    options, ids = destination
    result = call_cli(capsys, "sessions", "show", ids["session"], "--json", *options)
    assert result.returncode == 0, result.stderr
    session = json.loads(result.stdout)
    assert session["metadata"] == {"plan": "pro"}
    assert session["turns"][1]["toolCalls"][0]["input"] == {"a": 2, "b": 2}


def test_sessions_show_unknown(
    destination: tuple[list[str], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """sessions show of an unknown id prints NotFoundError in one line and exits 1."""
    options, _ids = destination
    result = call_cli(capsys, "sessions", "show", "00000000-0000-4000-8000-000000000000", *options)
    assert result.returncode == 1
    assert result.stderr.startswith("NotFoundError: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_wrong_key_exits_1_without_the_key(provenant_server: LocalServer) -> None:
    """A refused key prints AuthenticationError with the key's prefix only and exits 1."""
    key = "pk_live_badbadbadbadbadbadbadbadbadbadba"
    result = run_cli("agents", "list", "--base-url", provenant_server.url, "--api-key", key)
    assert result.returncode == 1
    assert result.stderr.startswith("AuthenticationError: ")
    assert "pk_live_badb..." in result.stderr
    assert key not in result.stderr + result.stdout


def test_the_embedded_store_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no options the commands browse .provenant/provenant.db of the working directory."""
    for name in list(os.environ):
        if name.startswith("PROVENANT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    client = ProvenantClient(enabled=False)
    ids = record_conversation(client)
    client.shutdown()
    listed = run_cli("sessions", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert ids["session"] in listed.stdout and ids["other"] in listed.stdout
    shown = run_cli("sessions", "show", ids["session"], cwd=tmp_path)
    assert "It is 4." in shown.stdout


def test_empty_store_and_bare_groups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty store says so; a group without a subcommand prints its help and exits 2."""
    options = ["--base-url", f"sqlite:///{tmp_path / 'empty.db'}"]
    assert "No agents yet" in call_cli(capsys, "agents", "list", *options).stdout
    assert "No sessions found." in call_cli(capsys, "sessions", "list", *options).stdout
    bare = call_cli(capsys, "sessions")
    assert bare.returncode == 2
    assert "show" in bare.stdout and "list" in bare.stdout
