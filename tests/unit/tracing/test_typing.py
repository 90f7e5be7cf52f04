"""mypy --strict on tests/typing proves @trace keeps parameter and return types."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

_TYPING_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "typing")


def _mypy(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--no-error-summary", path],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.path.join(_TYPING_DIR, "..", ".."),
    )


@pytest.mark.slow
def test_traced_functions_keep_their_types() -> None:
    """Every kind of traced callable type-checks exactly as the undecorated one would."""
    result = _mypy(os.path.join(_TYPING_DIR, "trace_signatures.py"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_wrong_calls_of_traced_functions_are_type_errors() -> None:
    """Wrong argument and return types of a traced function are reported by mypy."""
    path = os.path.join(_TYPING_DIR, "trace_signatures_errors.py")
    result = _mypy(path)
    with open(path, encoding="utf-8") as source:
        expected = {
            (number, match.group(1))
            for number, line in enumerate(source, start=1)
            if (match := re.search(r"# E: ([\w-]+)", line))
        }
    reported = {
        (int(match.group(1)), match.group(2))
        for match in re.finditer(r":(\d+): error: .*\[([\w-]+)\]", result.stdout)
    }
    assert reported == expected, result.stdout
