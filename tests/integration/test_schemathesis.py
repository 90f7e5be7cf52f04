"""Schemathesis against the local server's own OpenAPI document: no 500, answers as documented."""

from __future__ import annotations

import os
import tempfile
from typing import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks as st_checks  # noqa: E402

from provenant.server import LocalServer, start_server  # noqa: E402
from provenant.server._openapi import build_spec  # noqa: E402

_schema = schemathesis.openapi.from_dict(build_spec()).exclude(operation_id=["streamSession"])


@pytest.fixture(scope="module")
def api_server() -> Iterator[LocalServer]:
    with tempfile.TemporaryDirectory(prefix="provenant-st-") as directory:
        server = start_server(os.path.join(directory, "st.db"))
        try:
            yield server
        finally:
            server.stop()


@_schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_spec(case: object, api_server: LocalServer) -> None:
    """Every operation answers as documented, never 500, and refuses undeclared methods."""
    case.call_and_validate(  # type: ignore[attr-defined]
        base_url=api_server.url,
        headers={"Authorization": f"Bearer {api_server.api_keys[0]}"},
        checks=[
            st_checks.not_a_server_error,
            st_checks.status_code_conformance,
            st_checks.content_type_conformance,
            st_checks.response_schema_conformance,
            st_checks.unsupported_method,
        ],
    )
