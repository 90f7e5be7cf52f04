"""
The web viewer's server side: its static files, its security headers and its login links.

The page itself (``provenant/server/viewer/``) is hand-written ES modules and CSS shipped
as package data: no build step, nothing fetched from the network. It holds no data; it
reads the REST API with ``Authorization: Bearer <key>`` like any client, so every rule
of the API (keys, org isolation) applies to it unchanged::

    viewer = Viewer()
    link = viewer.login_link("http://127.0.0.1:4000", api_key)   # .../#login=<token>
    response = viewer.handle("GET", "/", {}, b"")                 # index.html

A login link carries a one-time token in the URL fragment (browsers never send a
fragment to the server, so it stays out of request lines and logs). The page trades it
once, with ``POST /viewer/login``, for the API key it stands for, keeps the key in
``sessionStorage`` and removes the fragment from the address bar. A token works once
and for an hour; the server keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from importlib import resources
from typing import Any, Mapping, Optional

from provenant.server._router import Response

__all__ = ["CONTENT_SECURITY_POLICY", "Viewer"]

#: No inline script or style, nothing from another origin, no framing, and Trusted Types
#: so that even a stray ``innerHTML = text`` in the page throws instead of parsing HTML.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none';"
    " require-trusted-types-for 'script'; trusted-types 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET = re.compile(r"^/viewer/([a-z0-9_-]+\.(?:js|css|svg))$")
_LOGIN_PATH = "/viewer/login"
_LOGIN_TTL_S = 3600.0
_MAX_PENDING_LOGINS = 1000
_MAX_LOGIN_BODY_BYTES = 4096


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Viewer:
    """
    Serve the viewer's files at ``/`` and ``/viewer/*`` and trade login tokens for keys.

    .. versionadded:: 0.2
    """

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._logins: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def owns(path: str) -> bool:
        """Whether ``path`` is the viewer's (everything else is the API's)."""
        return path in ("/", "/index.html", "/favicon.ico") or path.startswith("/viewer/")

    def login_link(self, base_url: str, api_key: str) -> str:
        """
        A one-time link that logs a browser into the viewer with ``api_key``.

        Args:
            base_url: The server's ``http://HOST:PORT``.
            api_key: The key the page will use (the org it shows).

        Returns:
            ``base_url + "/#login=" + token``.
        """
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._logins = {d: v for d, v in self._logins.items() if v[1] > now}
            if len(self._logins) >= _MAX_PENDING_LOGINS:
                oldest = min(self._logins, key=lambda d: self._logins[d][1])
                del self._logins[oldest]
            self._logins[_digest(token)] = (api_key, now + _LOGIN_TTL_S)
        return f"{base_url.rstrip('/')}/#login={token}"

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request for a path :meth:`owns`; never raises."""
        if path == _LOGIN_PATH:
            if method != "POST":
                return self._json(405, {"error": "Method not allowed"}, {"Allow": "POST"})
            return self._login(body)
        if method not in ("GET", "HEAD"):
            return self._json(405, {"error": "Method not allowed"}, {"Allow": "GET, HEAD"})
        if path in ("/", "/index.html"):
            return self._file("index.html")
        if path == "/favicon.ico":
            return self._file("icon.svg")
        match = _ASSET.match(path)
        if match is None:
            return self._json(404, {"error": "Not found"})
        return self._file(match.group(1))

    # -- internals --------------------------------------------------------------------

    def _login(self, body: bytes) -> Response:
        token: Any = None
        if len(body) <= _MAX_LOGIN_BODY_BYTES:
            try:
                parsed = json.loads(body.decode("utf-8")) if body else None
            except (ValueError, UnicodeDecodeError):
                parsed = None
            token = parsed.get("token") if isinstance(parsed, dict) else None
        if not isinstance(token, str) or not token:
            return self._json(400, {"error": 'Send {"token": ...} from a login link'})
        with self._lock:
            entry = self._logins.pop(_digest(token), None)
        if entry is None or entry[1] <= time.monotonic():
            return self._json(401, {"error": "This login link was already used or has expired"})
        return self._json(200, {"apiKey": entry[0]}, {"Cache-Control": "no-store"})

    def _file(self, name: str) -> Response:
        content = self._files.get(name)
        if content is None:
            try:
                content = (
                    resources.files("provenant.server")
                    .joinpath("viewer")
                    .joinpath(name)
                    .read_bytes()
                )
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return self._json(404, {"error": "Not found"})
            self._files[name] = content
        suffix = name[name.rfind(".") :]
        headers = dict(_HEADERS, **{"Content-Type": _TYPES[suffix]})
        return Response(200, content, headers)

    @staticmethod
    def _json(status: int, body: Any, extra: Optional[Mapping[str, str]] = None) -> Response:
        headers = dict(_HEADERS, **{"Content-Type": "application/json; charset=utf-8"})
        headers.update(extra or {})
        return Response(status, json.dumps(body).encode("utf-8"), headers)
