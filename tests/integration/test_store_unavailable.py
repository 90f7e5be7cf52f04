"""An embedded store that cannot be opened (a read-only working directory) is one clear
line saying how to record elsewhere, never a traceback per event."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provenant.client import ProvenantClient
from provenant.errors import ConfigurationError

_SCRIPT = """
    import logging
    import provenant

    logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(message)s")
    for n in range(20):
        with provenant.session("Bot") as session:
            session.add_turn("USER", f"turn {n}")
    provenant.shutdown(5)
"""


def _unwritable_directory(tmp_path: Path, how: str) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    if how == "read-only":
        directory.chmod(0o555)
    else:  # the store's directory name is taken by a file: refused even to root
        (directory / ".provenant").write_text("not a directory")
    return directory


HOWS = [
    pytest.param(
        "read-only",
        marks=pytest.mark.skipif(
            not hasattr(os, "geteuid") or os.geteuid() == 0,
            reason="root writes into a read-only directory",
        ),
    ),
    "taken by a file",
]


@pytest.mark.parametrize("how", HOWS)
def test_a_store_that_cannot_be_opened_is_one_clear_line(tmp_path: Path, how: str) -> None:
    """With no destination configured and a working directory where the store cannot be
    made, the program runs, one error says where and how to record elsewhere
    (PROVENANT_BASE_URL=sqlite:///...), the drops are counted, and no traceback is
    printed."""
    cwd = _unwritable_directory(tmp_path, how)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    try:
        completed = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_SCRIPT)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        cwd.chmod(0o755)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    opening = [line for line in completed.stderr.splitlines() if "cannot open the local" in line]
    assert len(opening) == 1
    assert str(cwd / ".provenant" / "provenant.db") in opening[0]
    assert "PROVENANT_BASE_URL=sqlite:///" in opening[0]
    assert "60 events were never delivered (destination_unavailable: 20," in completed.stderr


def test_a_rest_call_to_a_store_that_cannot_be_opened_raises_a_configuration_error(
    tmp_path: Path,
) -> None:
    """An explicit REST call raises ConfigurationError naming the file and the way out."""
    (tmp_path / "blocked").write_text("a file, not a directory")
    client = ProvenantClient(base_url=f"sqlite:///{tmp_path / 'blocked' / 'store.db'}")
    try:
        with pytest.raises(ConfigurationError, match="PROVENANT_BASE_URL=sqlite:///"):
            client.list_sessions()
    finally:
        client.shutdown()
