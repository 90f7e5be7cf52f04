"""The OpenAPI 3 document of the local server's routes."""

from __future__ import annotations

from typing import Any

__all__ = ["build_spec"]


def build_spec() -> dict[str, Any]:
    """Build the OpenAPI document."""
    return {"openapi": "3.0.3", "info": {"title": "Provenant", "version": "0.1"}, "paths": {}}
