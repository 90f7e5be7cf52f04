"""A method not served on a path without an id answers 405, never a lookup of that path as an id."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from provenant.server import LocalServer


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_get_or_create_answers_405_to_other_methods(
    provenant_server: LocalServer, provenant_api_key: str, method: str
) -> None:
    """`/api/agents/get-or-create` answers 405 with `Allow: POST`, not 404 "Agent not found"."""
    parts = urlsplit(provenant_server.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(
            method,
            "/api/agents/get-or-create",
            body=json.dumps({"name": "x"}) if method == "PATCH" else None,
            headers={
                "Authorization": f"Bearer {provenant_api_key}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 405
    assert response.getheader("Allow") == "POST"
    assert body == {"error": "Method not allowed"}
