"""PLACEHOLDER: replaced by evaluations (issue 5)."""

from __future__ import annotations

from typing import Any


class EvalReport:  # placeholder
    pass


def evaluate(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError
