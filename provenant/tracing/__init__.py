"""PLACEHOLDER: replaced by the tracing core (issue 3)."""

from __future__ import annotations

from typing import Any


class Session:  # placeholder
    pass


class Span:  # placeholder
    pass


class ThreadPoolExecutor:  # placeholder
    pass


def current_session() -> Any:
    return None


def current_span() -> Any:
    return None


def wrap_context(fn: Any) -> Any:
    return fn
