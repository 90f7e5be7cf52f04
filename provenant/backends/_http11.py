"""
A lean HTTP/1.1 client connection for :class:`~provenant.backends.http.HttpBackend`.

``http.client`` writes a request's headers and body in two ``send()`` calls and parses
every answer's headers with the ``email`` package; at thousands of small requests a
second both costs more than the request itself. This module writes each request in
one ``sendall()`` and reads answers with a small parser that knows what the REST
contract uses: a status line, headers, and a body framed by ``Content-Length``,
``Transfer-Encoding: chunked`` or the end of the connection.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, List, Optional, Tuple

__all__ = ["Connection", "ProtocolError", "RemoteClosed", "Response"]

_MAX_LINE_BYTES = 65536
_MAX_HEADERS = 100
_NO_BODY_STATUSES = frozenset({204, 304})


class RemoteClosed(ConnectionResetError):
    """The server closed the connection without sending an answer."""


class ProtocolError(Exception):
    """The server's answer is not well-formed HTTP/1.1."""


class Response:
    """One answer: status, headers (lower-case names), body, and whether the connection lives on."""

    __slots__ = ("body", "headers", "keep_alive", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class Connection:
    """
    One TCP (or TLS) connection; used by one thread at a time.

    Args:
        sock: A connected socket (already wrapped for TLS when needed).
    """

    __slots__ = ("_reader", "_sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: Optional[float]) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")
        self.timeout = timeout

    @classmethod
    def open(
        cls,
        addresses: List[Tuple[Any, ...]],
        host: str,
        timeout: Optional[float],
        ssl_context: Optional[ssl.SSLContext],
    ) -> Connection:
        """
        Connect to the first of ``addresses`` (``getaddrinfo`` rows) that answers.

        Raises:
            OSError: No address accepted the connection, or the TLS handshake failed.
        """
        last: Optional[OSError] = None
        for family, kind, proto, _name, sockaddr in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                # Small requests must not wait for the previous segment's ACK.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if ssl_context is not None:
                    sock = ssl_context.wrap_socket(sock, server_hostname=host)
                return cls(sock, timeout)
            except OSError as exc:
                sock.close()
                last = exc
        if last is None:
            raise OSError(f"no address to connect to for {host}")
        raise last

    def set_timeout(self, timeout: Optional[float]) -> None:
        """Apply ``timeout`` (seconds) to the following sends and reads."""
        if timeout != self.timeout:
            self._sock.settimeout(timeout)
            self.timeout = timeout

    def exchange(self, request: bytes, *, head: bool = False) -> Response:
        """
        Send one complete request and read its answer.

        Args:
            request: The request line, headers and body, as bytes.
            head: True for a ``HEAD`` request (the answer has no body).

        Raises:
            RemoteClosed: The server closed the connection before answering.
            ProtocolError: The answer is malformed.
            OSError: The socket failed or timed out.
        """
        self._sock.sendall(request)
        reader = self._reader
        while True:
            line = reader.readline(_MAX_LINE_BYTES + 1)
            if not line:
                raise RemoteClosed("the server closed the connection without answering")
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise ProtocolError(f"malformed status line {line[:80]!r}")
            try:
                status = int(parts[1])
            except ValueError:
                raise ProtocolError(f"malformed status line {line[:80]!r}") from None
            headers = self._read_headers()
            if status >= 200 or status == 101:
                break
            # 1xx interim answers (100 Continue) precede the real one.
        version = parts[0]
        connection = headers.get("connection", "").lower()
        if version == b"HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        if head or status in _NO_BODY_STATUSES or status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError("malformed Content-Length") from None
            body = reader.read(length) if length > 0 else b""
            if len(body) != max(length, 0):
                raise RemoteClosed(f"the answer broke off after {len(body)} of {length} bytes")
        else:
            body = reader.read()
            keep_alive = False
        return Response(status, headers, body, keep_alive)

    def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        reader = self._reader
        for _ in range(_MAX_HEADERS + 1):
            line = reader.readline(_MAX_LINE_BYTES + 1)
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise RemoteClosed("the server closed the connection inside the headers")
            if len(line) > _MAX_LINE_BYTES:
                raise ProtocolError("header line too long")
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError(f"malformed header line {line[:80]!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise ProtocolError("too many headers")

    def _read_chunked(self) -> bytes:
        reader = self._reader
        chunks: List[bytes] = []
        while True:
            line = reader.readline(_MAX_LINE_BYTES + 1)
            if not line:
                raise RemoteClosed("the answer broke off inside a chunk")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"malformed chunk size {line[:80]!r}") from None
            if size == 0:
                # Trailers, if any, end with an empty line.
                while reader.readline(_MAX_LINE_BYTES + 1) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunk = reader.read(size)
            if len(chunk) != size:
                raise RemoteClosed("the answer broke off inside a chunk")
            chunks.append(chunk)
            reader.readline(_MAX_LINE_BYTES + 1)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        try:
            self._reader.close()
        finally:
            self._sock.close()
