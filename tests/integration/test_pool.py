"""
A ``multiprocessing`` pool loses no session: ``with Pool(4)`` ends its workers with
SIGTERM on exit, and the SDK's SIGTERM handler writes what they queued to local disk
first (the embedded store, or the spool that ``provenant spool drain`` then delivers).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from provenant._fake_provider import FakeProvider
from provenant.server import LocalServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork and SIGTERM")

_TRIAL = str(Path(__file__).parent / "pool_trial.py")
_CALLS = 8 * 20


def _run(url: str, key: str, provider: FakeProvider) -> None:
    done = subprocess.run(
        [sys.executable, _TRIAL, url, key, provider.url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-3000:]


def _sessions_and_turns(db_path: str) -> tuple[int, int]:
    """The sessions of the trial's agent (the server is shared with other tests)."""
    conn = sqlite3.connect(db_path)
    try:
        ids = "SELECT s.id FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE a.name = ?"
        sessions = conn.execute(f"SELECT count(*) FROM ({ids})", ("Pool Bot",)).fetchone()[0]
        turns = conn.execute(
            f"SELECT count(*) FROM turns WHERE session_id IN ({ids})", ("Pool Bot",)
        ).fetchone()[0]
    finally:
        conn.close()
    return int(sessions), int(turns)


@pytest.mark.parametrize("run", range(2))
def test_pool_workers_lose_nothing_with_the_embedded_store(
    fake_provider: FakeProvider, tmp_path: Path, run: int
) -> None:
    db = str(tmp_path / "provenant.db")
    _run(f"sqlite:///{db}", "-", fake_provider)
    assert _sessions_and_turns(db) == (_CALLS, 2 * _CALLS)


def test_pool_workers_lose_nothing_with_a_remote_api(
    fake_provider: FakeProvider, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    _run(provenant_server.url, provenant_api_key, fake_provider)
    drained = subprocess.run(
        [
            sys.executable,
            "-m",
            "provenant",
            "spool",
            "drain",
            "--base-url",
            provenant_server.url,
            "--api-key",
            provenant_api_key,
            "--timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert _sessions_and_turns(provenant_server.store.db_path) == (_CALLS, 2 * _CALLS)
