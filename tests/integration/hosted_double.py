"""
A proxy before the real local server that answers as another server would.

``HostedDouble(upstream, "hosted")`` behaves as the hosted platform does where it differs
from ``provenant serve`` in what a reader sees (``shared/provenant-api.md``): its database
middleware parses every string of every answer that looks like a JSON object or array,
at any depth (text content and strings inside user data included), and its end route
ignores ``status`` (every ended session is ``COMPLETED``). ``"legacy"`` answers as the 0.1
local server did: every JSON column as JSON text. Requests are forwarded as they are,
the end's body aside; answers are rewritten and sent with a ``Content-Length``.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_JSON_COLUMNS = ("metadata", "tags", "toolCalls", "input", "expectedOutput", "actualOutput")
_END = re.compile(r"^/api/sessions/[^/]+/end$")


def deep_parse(value: Any) -> Any:
    """The hosted middleware: a string that parses as a JSON object or array becomes it."""
    if isinstance(value, str):
        if value[:1] in ("{", "["):
            try:
                return deep_parse(json.loads(value))
            except ValueError:
                return value
        return value
    if isinstance(value, list):
        return [deep_parse(item) for item in value]
    if isinstance(value, dict):
        return {key: deep_parse(item) for key, item in value.items()}
    return value


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_columns(value: Any) -> Any:
    """The 0.1 local server's answers: each JSON column (and non-text content) as JSON text."""
    if isinstance(value, list):
        return [encode_columns(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        text_column = key in _JSON_COLUMNS and item is not None
        if (text_column or key == "content") and not isinstance(item, str):
            out[key] = _text(item)
        else:
            out[key] = encode_columns(item)
    return out


class HostedDouble:
    """
    The proxy on 127.0.0.1 (port 0); ``url`` to point a client at, ``close()`` to stop.

    Args:
        upstream: The real server's URL.
        form: ``"hosted"`` or ``"legacy"``.
    """

    def __init__(self, upstream: str, form: str) -> None:
        if form not in ("hosted", "legacy"):
            raise ValueError(form)
        parts = urlsplit(upstream)
        double = self
        self.form = form
        self.ends_seen: list[dict[str, Any]] = []  # bodies the end route received

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def handle(self) -> None:
                # One upstream connection per client connection, closed with it.
                self.upstream = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port or 80, timeout=10
                )
                try:
                    super().handle()
                finally:
                    self.upstream.close()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                body = double._request_body(self.command, self.path, body)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "host", "connection")
                }
                if body:
                    headers["Content-Length"] = str(len(body))
                self.upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = self.upstream.getresponse()
                data = answer.read()
                kind = answer.getheader("Content-Type") or ""
                if kind.startswith("application/json") and data:
                    data = double._answer_body(data)
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _request_body(self, method: str, path: str, body: bytes) -> bytes:
        if method != "POST" or not _END.match(path.split("?", 1)[0]):
            return body
        sent = json.loads(body) if body else {}
        self.ends_seen.append(sent)
        if self.form == "hosted":  # the hosted end route reads only the totals
            sent.pop("status", None)
        return json.dumps(sent).encode("utf-8")

    def _answer_body(self, data: bytes) -> bytes:
        value = json.loads(data)
        value = deep_parse(value) if self.form == "hosted" else encode_columns(value)
        return json.dumps(value).encode("utf-8")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
