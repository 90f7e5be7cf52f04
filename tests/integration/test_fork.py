"""Forks while the SDK delivers: a forked child never hangs and records its own sessions.

Each trial is a fresh interpreter (``fork_trial.py``), so that its first delivery is
the process's first, when a worker used to import the backend's modules: a fork at that
moment left the child's import locked forever, or the module half-made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provenant.server import LocalServer

_HERE = Path(__file__).parent
_TRIAL_TIMEOUT_S = 60

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available")


def _destination(kind: str, server: LocalServer, tmp_path: Path) -> tuple[str, str]:
    if kind == "local server":
        return server.url, server.create_api_key()
    return f"sqlite:///{tmp_path / 'store.db'}", ""


@needs_fork
@pytest.mark.parametrize("mode", ["os.fork", "pool"])
@pytest.mark.parametrize("destination", ["embedded store", "local server"])
@pytest.mark.parametrize("seed", [1, 2])
def test_forks_at_random_moments_of_delivery_never_hang_a_child(
    provenant_server: LocalServer, tmp_path: Path, mode: str, destination: str, seed: int
) -> None:
    """Children forked (os.fork, or a multiprocessing 'fork' pool) at random moments while
    a thread records and the worker delivers each finish in time, deliver their own
    session and their turn in the inherited session, and the parent's records go on."""
    url, key = _destination(destination, provenant_server, tmp_path)
    completed = subprocess.run(
        [sys.executable, str(_HERE / "fork_trial.py"), url, key, mode, str(seed)],
        capture_output=True,
        text=True,
        timeout=_TRIAL_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stderr
    trial = json.loads(completed.stdout.splitlines()[-1])
    assert set(trial["outcomes"]) == {"delivered"}, trial
    assert trial["stored_children"] == sorted(trial["children"])
    assert trial["outer_turns"] == trial["expected_outer_turns"]


_NO_IMPORTS = """
    import sys, threading

    imports = []

    def on_event(event, args):
        if event == "import" and threading.current_thread().name.startswith("provenant-"):
            imports.append(args[0])

    sys.addaudithook(on_event)
    import provenant

    url, key = sys.argv[1], sys.argv[2] or None
    client = provenant.ProvenantClient(base_url=url, api_key=key, agent_id="Bot")
    with client.session() as session:
        session.add_turn("USER", "hello", metadata={"odd": object()})
        with client.session("Another Bot"):
            pass
        client.trace(kind="tool")(len)("abc")
    assert client.flush(10)
    with client.session(session_id=session.id) as resumed:
        resumed.add_turn("USER", "again")
    assert client.shutdown(10)
    print(imports)
"""


@pytest.mark.parametrize("destination", ["embedded store", "local server"])
def test_the_exporter_threads_never_import(
    provenant_server: LocalServer, tmp_path: Path, destination: str
) -> None:
    """Everything the workers need is imported before they start: a worker importing a
    module at the moment of a fork would leave that module's import locked in the child."""
    url, key = _destination(destination, provenant_server, tmp_path)
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_NO_IMPORTS), url, key],
        capture_output=True,
        text=True,
        timeout=_TRIAL_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
