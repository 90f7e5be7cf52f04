"""
The HTTP face of the local server: ``http.server`` in front of the router.

Keep-alive HTTP/1.1 with ``Content-Length``, one daemon thread per connection,
Nagle off (the stdlib writes headers and body separately, and with Nagle on a
keep-alive client waits ~40 ms for the delayed ACK on every request), quiet logs.
Everything about the contract lives in the router; this layer only moves bytes.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qsl

from provenant._version import __version__
from provenant.server._router import MAX_BODY_BYTES, Response, Router
from provenant.server._viewer import Viewer

__all__ = ["ProvenantHTTPServer"]

_MAX_DRAIN_BYTES = 64 * 1024 * 1024
_WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
_MAX_HEADERS = 100
_MAX_LINE = 65536
_REASONS = {status.value: status.phrase for status in HTTPStatus}
_date_cache: list[Any] = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return str(_date_cache[1])


class _Headers:
    """Request headers: case-insensitive ``get``, and ``items()`` as received."""

    __slots__ = ("_by_lower", "_items")

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []
        self._by_lower: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._by_lower.setdefault(name.lower(), value)

    def get(self, name: str, default: Any = None) -> Any:
        return self._by_lower.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def lower_dict(self) -> dict[str, str]:
        return self._by_lower


class ProvenantHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to a :class:`Router`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], router: Router, viewer: Optional[Viewer] = None
    ) -> None:
        self.router = router
        self.viewer = viewer
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection, remembering it so :meth:`close_connections` can end it."""
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """End every open keep-alive connection (their threads then finish)."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"provenant-local/{__version__}"
    sys_version = ""
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped after 5 minutes so their threads end.
    timeout = 300
    server: ProvenantHTTPServer
    raw_requestline: bytes

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: a local server for tests and development."""

    def send_error(
        self, code: int, message: Optional[str] = None, explain: Optional[str] = None
    ) -> None:
        """Answer protocol-level errors as JSON too; an unknown method is a 405."""
        if code == 501:
            code, message = 405, "Method not allowed"
        self.close_connection = True
        self._send(Response(code, {"error": message or _REASONS.get(code, "Error")}), False)

    def parse_request(self) -> bool:
        """Parse the request line and headers; a fast path for plain HTTP/1.x requests."""
        words = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n").split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.command, self.path, self.request_version = words
        self.requestline = " ".join(words)
        headers = _Headers()
        for _ in range(_MAX_HEADERS):
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                self.close_connection = True
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if sep:
                headers.add(name.strip(), value.strip())
        else:
            self.close_connection = True
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("Connection", "").lower()
        if self.request_version == "HTTP/1.1":
            self.close_connection = connection == "close"
        else:
            self.close_connection = connection != "keep-alive"
        if headers.get("Expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, PUT, ...) goes to the router too, which answers 405
        # with an Allow header on known paths, instead of the stdlib's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self, head: bool = False) -> None:
        router = self.server.router
        # Tell the store a write is coming before reading the body, so a group commit
        # in progress waits for it (more writes per COMMIT); the router settles it.
        announced = self.command in _WRITE_METHODS and self.path.startswith("/api/")
        if announced:
            router.store.announce_write()
        pending = [announced]  # until the router takes the announcement over
        try:
            self._serve_announced(router, head, pending)
        finally:
            if pending[0]:
                router.store.withdraw_write()

    def _serve_announced(self, router: Router, head: bool, pending: list[bool]) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith(("http://", "https://")):
            raw_path = "/" + raw_path.split("/", 3)[-1] if raw_path.count("/") >= 3 else "/"
        query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            self.close_connection = True
            self._send(Response(411, {"error": "Send the body with a Content-Length"}), head)
            return
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header else 0
            if length < 0:
                raise ValueError(length_header)
        except ValueError:
            self.close_connection = True
            self._send(Response(400, {"error": "Invalid Content-Length"}), head)
            return
        if length > MAX_BODY_BYTES:
            # Read and drop the body (so the client sees our answer instead of a reset),
            # then let the router refuse it; past a sane bound, just hang up after answering.
            if length <= _MAX_DRAIN_BYTES:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            self.close_connection = length > _MAX_DRAIN_BYTES
            body = b""
        else:
            body = self.rfile.read(length) if length else b""
        headers = self.headers
        header_map = (
            headers.lower_dict() if isinstance(headers, _Headers) else dict(headers.items())
        )
        announced, pending[0] = pending[0], False
        viewer = self.server.viewer
        if viewer is not None and viewer.owns(raw_path):
            self._send(viewer.handle(self.command, raw_path, header_map, body), head)
            return
        response = router.handle(
            self.command,
            raw_path,
            query,
            header_map,
            body,
            body_length=length,
            announced=announced,
        )
        if response.stream is not None and not head:
            self._send_stream(response)
        else:
            self._send(response, head)

    def _send(self, response: Response, head: bool) -> None:
        # One write per answer: status line, headers and body together (the stdlib
        # sends them piecemeal, and formats a Date header per call).
        # A bytes body (the viewer's files) goes as it is, with its own Content-Type.
        body = response.body
        raw = isinstance(body, bytes)
        payload = body if raw else b"" if body is None else json.dumps(body).encode("utf-8")
        reason = _REASONS.get(response.status, "Unknown")
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {_http_date()}",
        ]
        if not raw:
            lines.append("Content-Type: application/json; charset=utf-8")
        lines.append(f"Content-Length: {len(payload)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head_bytes if head else head_bytes + payload)

    def _send_stream(self, response: Response) -> None:
        assert response.stream is not None
        self.close_connection = True
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        stream = response.stream
        try:
            for chunk in stream:
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the client went away
        finally:
            close: Optional[Any] = getattr(stream, "close", None)
            if close is not None:
                close()

    def handle(self) -> None:
        # A client that drops its connection is not an error.
        with contextlib.suppress(ConnectionError, socket.timeout):
            super().handle()
