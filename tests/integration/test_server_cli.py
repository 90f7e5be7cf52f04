"""``provenant serve`` and ``provenant keys create`` as a user runs them."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from provenant._cli import main
from provenant.backends.local import LocalBackend

LINE = re.compile(r"^Provenant local server on http://(127\.0\.0\.1):(\d+)$")


def _serve(*args: str, cwd: Optional[Path] = None) -> tuple[subprocess.Popen[str], list[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "provenant", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    assert process.stdout is not None
    lines = []
    for _ in range(5):
        line = process.stdout.readline().rstrip("\n")
        lines.append(line)
        match = LINE.match(line)
        if match:
            return process, lines, int(match.group(2))
    process.kill()
    process.communicate()
    raise AssertionError(f"no start line in {lines!r}")


def _get(port: int, path: str, key: Optional[str] = None) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, answer


def _stop(process: subprocess.Popen[str]) -> int:
    process.terminate()
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("provenant serve did not stop on SIGTERM")
    return process.returncode


def test_serve_prints_its_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`provenant serve` prints its URL line, serves the given key, and exits 0 on SIGTERM."""
    key = "pk_live_" + "ab" * 16
    process, lines, port = _serve("--db", str(tmp_path / "s.db"), "--api-key", key)
    try:
        assert lines == [f"Provenant local server on http://127.0.0.1:{port}"]
        assert _get(port, "/health")[0] == 200
        assert _get(port, "/api/agents", key) == (200, [])
        assert _get(port, "/api/agents", "pk_live_" + "cd" * 16)[0] == 401
    finally:
        assert _stop(process) == 0


def test_serve_without_key_prints_one_of_the_local_org(tmp_path: Path) -> None:
    """With no --api-key it prints a key that sees what the embedded store recorded (default db)."""
    backend = LocalBackend(str(tmp_path / ".provenant" / "provenant.db"))
    backend.request("POST", "/api/agents/get-or-create", body={"name": "Recorded Offline"})
    backend.close()
    process, lines, port = _serve(cwd=tmp_path)
    try:
        key = lines[0].split("API key: ", 1)[1]
        assert re.fullmatch(r"pk_live_[0-9a-f]{32}", key)
        status, agents = _get(port, "/api/agents", key)
        assert status == 200
        assert [a["name"] for a in agents] == ["Recorded Offline"]  # type: ignore[union-attr]
    finally:
        assert _stop(process) == 0


def test_keys_create_prints_a_working_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`provenant keys create` prints a new pk_live_ key; with --org it belongs to that org."""
    db = str(tmp_path / "k.db")
    assert main(["keys", "create", "--db", db, "--org", "Team A"]) == 0
    key_a = capsys.readouterr().out.strip()
    assert main(["keys", "create", "--db", db, "--org", "Team A"]) == 0
    key_a2 = capsys.readouterr().out.strip()
    assert main(["keys", "create", "--db", db, "--org", "Team B"]) == 0
    key_b = capsys.readouterr().out.strip()
    for key in (key_a, key_a2, key_b):
        assert re.fullmatch(r"pk_live_[0-9a-f]{32}", key)
    from provenant.server import Store

    store = Store(db)
    try:
        org_a = store.org_for_key(key_a)
        assert org_a is not None
        assert store.org_for_key(key_a2) == org_a
        assert store.org_for_key(key_b) not in (None, org_a)
    finally:
        store.close()


def test_serve_on_a_busy_port_exits_1_with_one_line(tmp_path: Path) -> None:
    """A port already in use makes `provenant serve` print one line and exit 1."""
    key = "pk_live_" + "ef" * 16
    process, _, port = _serve("--db", str(tmp_path / "a.db"), "--api-key", key)
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "provenant",
                "serve",
                "--port",
                str(port),
                "--api-key",
                key,
                "--db",
                str(tmp_path / "b.db"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert second.stderr.strip().count("\n") == 0
        assert "pick another --port" in second.stderr
    finally:
        assert _stop(process) == 0


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().replace(b"\0", b" ").decode()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_serve_takes_keys_from_a_file_and_the_environment(tmp_path: Path) -> None:
    """--api-key-file and PROVENANT_SERVE_API_KEYS give keys that never show in the process list."""
    import os

    from_file, from_env, other_env = ("pk_live_" + c * 32 for c in "abc")
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# the team's key\n{from_file}\n\n")
    env = dict(os.environ, PROVENANT_SERVE_API_KEYS=f"{from_env}, {other_env}")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provenant",
            "serve",
            "--port",
            "0",
            "--db",
            str(tmp_path / "f.db"),
            "--api-key-file",
            str(key_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        match = LINE.match(process.stdout.readline().rstrip("\n"))
        assert match, "no start line"
        port = int(match.group(2))
        for key in (from_file, from_env, other_env):
            assert _get(port, "/api/agents", key)[0] == 200
            assert key not in _cmdline(process.pid)
        assert _get(port, "/api/agents", "pk_live_" + "d" * 32)[0] == 401
    finally:
        assert _stop(process) == 0


def test_serve_with_an_unreadable_key_file_exits_1(tmp_path: Path) -> None:
    """A missing key file is one line on stderr and exit status 1."""
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "provenant",
            "serve",
            "--port",
            "0",
            "--db",
            str(tmp_path / "g.db"),
            "--api-key-file",
            str(tmp_path / "missing.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 1
    assert "missing.txt" in process.stderr and "Traceback" not in process.stderr
