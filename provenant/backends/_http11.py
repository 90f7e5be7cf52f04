"""
A lean HTTP/1.1 client connection for :class:`~provenant.backends.http.HttpBackend`.

``http.client`` writes a request's headers and body in two ``send()`` calls and parses
every answer's headers with the ``email`` package; at thousands of small requests a
second both costs more than the request itself. This module writes each request in
one ``sendall()`` and reads answers with ``recv()`` and a small parser that knows what
the REST contract uses: a status line, headers, and a body framed by ``Content-Length``,
``Transfer-Encoding: chunked`` or the end of the connection.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, List, Optional, Tuple

__all__ = ["Connection", "ProtocolError", "RemoteClosed", "Response"]

_MAX_LINE_BYTES = 65536
_MAX_HEAD_BYTES = 65536
_RECV_BYTES = 65536
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

    Answers are read with ``recv()`` into a buffer of this connection: a small answer
    arrives in one system call and is parsed with a few ``bytes`` methods, where a
    buffered file object would cost a Python-level call per line.

    Args:
        sock: A connected socket (already wrapped for TLS when needed).
    """

    __slots__ = ("_buffer", "_sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: Optional[float]) -> None:
        self._sock = sock
        self._buffer = b""  # received bytes not parsed yet
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
        while True:
            version, status, headers = self._read_head()
            if status >= 200 or status == 101:
                break
            # 1xx interim answers (100 Continue) precede the real one.
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
            body = self._read_exact(length) if length > 0 else b""
        else:
            body = self._read_to_close()
            keep_alive = False
        return Response(status, headers, body, keep_alive)

    def _receive(self) -> bytes:
        """One ``recv()``; ``b""`` when the server closed the connection."""
        return self._sock.recv(_RECV_BYTES)

    def _extend(self, buffer: bytes, limit: int, too_long: str, broke_off: str) -> bytes:
        """``buffer`` and the next bytes received, for a delimiter not found in it yet."""
        if len(buffer) > limit:
            raise ProtocolError(too_long)
        data = self._receive()
        if not data:
            self._buffer = b""
            raise RemoteClosed(broke_off)
        return buffer + data

    def _read_head(self) -> Tuple[bytes, int, dict[str, str]]:
        """The status line and headers of one answer: ``(version, status, headers)``."""
        buffer = self._buffer
        while True:
            end = buffer.find(b"\r\n\r\n")
            lax = buffer.find(b"\n\n")  # bare line feeds, from a lax server
            if lax >= 0 and (end < 0 or lax < end):
                rest = buffer[lax + 2 :]
                end = lax
                break
            if end >= 0:
                rest = buffer[end + 4 :]
                break
            buffer = self._extend(
                buffer,
                _MAX_HEAD_BYTES,
                "the answer's headers are too long",
                "the server closed the connection inside the headers"
                if buffer
                else "the server closed the connection without answering",
            )
        self._buffer = rest
        lines = buffer[:end].split(b"\n")
        status_line = lines[0].rstrip(b"\r")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ProtocolError(f"malformed status line {status_line[:80]!r}")
        try:
            status = int(parts[1])
        except ValueError:
            raise ProtocolError(f"malformed status line {status_line[:80]!r}") from None
        if len(lines) > _MAX_HEADERS + 1:
            raise ProtocolError("too many headers")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError(f"malformed header line {line[:80]!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return parts[0], status, headers

    def _read_exact(self, size: int) -> bytes:
        """The next ``size`` bytes of the answer."""
        buffer = self._buffer
        if len(buffer) < size:
            chunks = [buffer]
            have = len(buffer)
            while have < size:
                data = self._receive()
                if not data:
                    self._buffer = b""
                    raise RemoteClosed(f"the answer broke off after {have} of {size} bytes")
                chunks.append(data)
                have += len(data)
            buffer = b"".join(chunks)
        self._buffer = buffer[size:]
        return buffer[:size]

    def _read_line(self) -> bytes:
        """The next line of the answer, without its line ending."""
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n")
            if end >= 0:
                self._buffer = buffer[end + 1 :]
                return buffer[:end].rstrip(b"\r")
            buffer = self._extend(
                buffer,
                _MAX_LINE_BYTES,
                "a line of the answer is too long",
                "the answer broke off inside a chunk",
            )

    def _read_chunked(self) -> bytes:
        chunks: List[bytes] = []
        while True:
            line = self._read_line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"malformed chunk size {line[:80]!r}") from None
            if size == 0:
                # Trailers, if any, end with an empty line.
                while self._read_line():
                    pass
                return b"".join(chunks)
            chunks.append(self._read_exact(size))
            self._read_line()

    def _read_to_close(self) -> bytes:
        """An answer framed by the end of the connection."""
        chunks = [self._buffer]
        self._buffer = b""
        while True:
            data = self._receive()
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._buffer = b""
        self._sock.close()
