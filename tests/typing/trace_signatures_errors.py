"""Checked by mypy --strict, never run: each marked line must be an error (wrong types kept)."""

from __future__ import annotations

import provenant


@provenant.trace
def bare(question: str) -> str:
    return question


@provenant.trace(kind="tool")
def tool(limit: int) -> int:
    return limit


bare(1)  # E: arg-type
tool("x")  # E: arg-type
wrong: int = bare("q")  # E: assignment
bare("q", extra=True)  # E: call-arg
