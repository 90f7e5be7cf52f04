"""PLACEHOLDER: replaced by the integrations (issue 4)."""

from __future__ import annotations

from typing import Any


def instrument(client: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def uninstrument(client: Any) -> Any:
    raise NotImplementedError
