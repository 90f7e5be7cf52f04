"""PLACEHOLDER: the `provenant keys` commands; replaced by their owner."""

from __future__ import annotations

from typing import Any


def add_commands(subparsers: Any) -> None:
    """Add nothing yet."""
