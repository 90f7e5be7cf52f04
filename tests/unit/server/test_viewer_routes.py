"""The viewer's own routes on the local server: files, headers, login tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from server_http import Api

from provenant.server import LocalServer


@pytest.fixture
def raw(provenant_server: LocalServer) -> Any:
    client = Api(provenant_server.url, None)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/", "text/html"), ("/viewer/app.js", "text/javascript"), ("/viewer/style.css", "text/css")],
)
def test_the_page_and_its_assets_are_served_with_the_policy(raw: Api, path: str, kind: str) -> None:
    """Each file comes with its type, nosniff and the CSP that forbids inline script."""
    status, _, headers = _get(raw, path)
    assert status == 200
    assert headers["content-type"].startswith(kind)
    assert headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in headers["content-security-policy"]


@pytest.mark.parametrize(
    "path", ["/viewer/../_store.py", "/viewer/%2e%2e/_store.py", "/viewer/missing.js", "/viewer/"]
)
def test_nothing_but_the_viewers_own_files_is_served(raw: Api, path: str) -> None:
    """Paths outside the asset folder or not in it answer 404."""
    assert _get(raw, path)[0] == 404


def test_a_login_token_is_traded_for_its_key_once(raw: Api, provenant_server: LocalServer) -> None:
    """POST /viewer/login answers the key for a fresh token, then 401 for the same token."""
    key = provenant_server.create_api_key()
    token = provenant_server.login_link(key).split("#login=", 1)[1]
    first = raw.raw("POST", "/viewer/login", json.dumps({"token": token}).encode())
    assert first[0] == 200 and first[1] == {"apiKey": key}
    assert first[2]["cache-control"] == "no-store"
    again = raw.raw("POST", "/viewer/login", json.dumps({"token": token}).encode())
    assert again[0] == 401 and "apiKey" not in again[1]


@pytest.mark.parametrize("body", [b"", b"not json", b'{"token": 5}', b"[]"])
def test_a_malformed_login_is_a_400(raw: Api, body: bytes) -> None:
    """A login without a token string is refused plainly."""
    assert raw.raw("POST", "/viewer/login", body)[0] == 400


def test_the_viewer_does_not_shadow_the_api(raw: Api) -> None:
    """API paths still answer as the API: 401 JSON without a key."""
    status, body, headers = _get(raw, "/api/sessions")
    assert status == 401 and "error" in body
    assert headers["content-type"].startswith("application/json")


def _get(api: Api, path: str) -> tuple[int, Any, dict[str, str]]:
    import http.client

    conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    body: Any = data
    if headers.get("content-type", "").startswith("application/json") and data:
        body = json.loads(data)
    return response.status, body, headers


def test_every_viewer_file_ships_in_the_wheel() -> None:
    """Each file of provenant/server/viewer/ matches a package-data pattern of pyproject.toml
    (the wheel carries the page; nothing is built or fetched at install time)."""
    import fnmatch
    import pathlib
    import re

    root = pathlib.Path(__file__).parents[3]
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    patterns = re.findall(r'"(server/viewer/[^"]+)"', section)
    files = sorted(p.name for p in (root / "provenant" / "server" / "viewer").iterdir())
    assert "index.html" in files and "app.js" in files
    for name in files:
        assert any(fnmatch.fnmatch(f"server/viewer/{name}", p) for p in patterns), name
