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
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Optional
from urllib.parse import parse_qsl

from provenant._version import __version__
from provenant.server._framing import METHOD, body_length, header_line_is_malformed
from provenant.server._hosts import HostPolicy
from provenant.server._lazy import StreamedJson
from provenant.server._router import MAX_BODY_BYTES, Response, Router

__all__ = ["ProvenantHTTPServer"]

logger = logging.getLogger("provenant.server")

_MAX_DRAIN_BYTES = 64 * 1024 * 1024
_BUFFER_BYTES = 256 * 1024
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

    def get_all(self, name: str) -> list[str]:
        lower = name.lower()
        return [value for key, value in self._items if key.lower() == lower]

    def lower_dict(self) -> dict[str, str]:
        return self._by_lower


class ProvenantHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to a :class:`Router`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], router: Router, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self.router = router
        self.hosts = HostPolicy(address[0], allowed_hosts)
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
        if METHOD.fullmatch(self.command) is None:
            self.send_error(400, "Invalid method")
            return False
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
            if not sep or header_line_is_malformed(name, line):
                self.send_error(400, "Malformed header line")
                return False
            headers.add(name, value.strip())
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
        host = self.headers.get("Host")
        if not (host is None and self.request_version == "HTTP/1.0") and (
            not self.server.hosts.allows(host)
        ):
            self.close_connection = True
            error = (
                "Missing Host header"
                if host is None
                else f"Host {host!r} is not served here (allow it with provenant serve"
                " --allow-host NAME)"
            )
            self._send(Response(400, {"error": error}), head)
            return
        self._serve_request(self.server.router, head)

    def _serve_request(self, router: Router, head: bool) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith(("http://", "https://")):
            raw_path = "/" + raw_path.split("/", 3)[-1] if raw_path.count("/") >= 3 else "/"
        query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
        framing = body_length(
            self.headers.get_all("Content-Length") or [],
            self.headers.get_all("Transfer-Encoding") or [],
        )
        if isinstance(framing, tuple):
            self.close_connection = True
            self._send(Response(framing[0], {"error": framing[1]}), head)
            return
        length = framing
        if not self._continue(router, raw_path, length, head):
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
        response = router.handle(
            self.command, raw_path, query, self._header_map(), body, body_length=length
        )
        if response.stream is not None and not head:
            self._send_stream(response)
        else:
            self._send(response, head)

    def _continue(self, router: Router, path: str, length: int, head: bool) -> bool:
        """Answer ``Expect``: 100 Continue only once the key and the size are accepted."""
        expect = self.headers.get("Expect")
        if expect is None or self.request_version != "HTTP/1.1":
            return True
        if expect.strip().lower() != "100-continue":
            self.close_connection = True
            self._send(Response(417, {"error": "Unsupported Expect header"}), head)
            return False
        refusal = router.refuse_early(path, self._header_map(), length)
        if refusal is not None:
            # The client holds the body back for our answer: never read it.
            self.close_connection = True
            self._send(refusal, head)
            return False
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _header_map(self) -> dict[str, str]:
        headers = self.headers
        return headers.lower_dict() if isinstance(headers, _Headers) else dict(headers.items())

    def _send(self, response: Response, head: bool) -> None:
        # One write per answer: status line, headers and body together (the stdlib
        # sends them piecemeal, and formats a Date header per call).
        if isinstance(response.body, StreamedJson):
            self._send_streamed(response, response.body, head)
            return
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        head_bytes = self._head(response, f"Content-Length: {len(payload)}")
        self.wfile.write(head_bytes if head else head_bytes + payload)

    def _head(self, response: Response, framing: Optional[str]) -> bytes:
        reason = _REASONS.get(response.status, "Unknown")
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {_http_date()}",
            "Content-Type: application/json; charset=utf-8",
        ]
        if framing is not None:
            lines.append(framing)
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def _send_streamed(self, response: Response, body: StreamedJson, head: bool) -> None:
        # A small answer goes out whole with its length; past _BUFFER_BYTES the rest is
        # sent chunked as it is read, so no answer is ever held whole in memory.
        chunks = body.chunks()
        try:
            buffered: list[bytes] = []
            size = 0
            try:
                for chunk in chunks:
                    buffered.append(chunk)
                    size += len(chunk)
                    if size > _BUFFER_BYTES and not head:
                        break
                else:
                    if head:
                        buffered = []
                    payload = b"".join(buffered)
                    self.wfile.write(self._head(response, f"Content-Length: {size}") + payload)
                    return
            except Exception:
                logger.exception("provenant server: cannot read the answer to %s", self.path)
                self._send(Response(500, {"error": "Internal server error"}), head)
                return
            chunked = self.request_version == "HTTP/1.1"
            if not chunked:
                self.close_connection = True  # HTTP/1.0: the end of the body is the close
            self.wfile.write(
                self._head(response, "Transfer-Encoding: chunked" if chunked else None)
            )
            try:
                buffered.reverse()
                while buffered:  # let go of each piece once it is sent
                    self._write_chunk(buffered.pop(), chunked)
                for chunk in chunks:
                    self._write_chunk(chunk, chunked)
            except OSError:
                self.close_connection = True  # the client went away
                return
            except Exception:
                # Too late for an error status: cut the answer off so the client sees it
                # incomplete rather than short.
                logger.exception("provenant server: answer to %s cut off", self.path)
                self.close_connection = True
                return
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            chunks.close()

    def _write_chunk(self, chunk: bytes, chunked: bool) -> None:
        if not chunked:
            self.wfile.write(chunk)
        elif len(chunk) < _BUFFER_BYTES:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:  # a large record: not copied once more to frame it
            self.wfile.write(b"%x\r\n" % len(chunk))
            self.wfile.write(chunk)
            self.wfile.write(b"\r\n")

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
