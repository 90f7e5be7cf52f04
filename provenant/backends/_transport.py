"""
The transport seam: one HTTP exchange, and the standard library's ``http.client`` under it.

::

    transport = HttpClientTransport("http", "127.0.0.1", 4000, timeout_s=30.0)
    answer = transport.handle(HttpRequest("GET", "/health", [("Host", "127.0.0.1:4000")]))
    answer.status, answer.headers["content-type"], answer.body
    transport.close()

:class:`~provenant.backends.http.HttpBackend` speaks the REST contract (headers, errors,
retries) and hands each attempt to a :class:`Transport`; anything with that one method
(a test double, another HTTP library) can stand in for :class:`HttpClientTransport`.

:class:`HttpClientTransport` keeps a pool of idle keep-alive connections: an exchange
borrows one (one thread at a time on a connection) and gives it back when the answer is
read. A kept-alive connection the server closed meanwhile is replaced, once: the request
never reached the server. Headers and body leave in one ``send()`` (``http.client``
would write them apart, and a small body would wait on the peer's delayed ACK). A forked
child never touches its parent's sockets: it opens its own.
"""

from __future__ import annotations

# socket.getaddrinfo() and TLS encode the host name with the "idna" codec, whose first
# use imports it: imported here, so that a background thread connecting never imports
# (a fork during an import leaves the child's next import of that module locked).
import encodings.idna  # noqa: F401
import http.client
import os
import socket
import ssl
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

from typing_extensions import Protocol

__all__ = ["Headers", "HttpClientTransport", "HttpRequest", "HttpResponse", "Transport"]

_DEFAULT_MAX_IDLE_CONNECTIONS = 16
# Header lines remembered encoded (per transport): the fixed ones come first; an
# Idempotency-Key, new each time, only fills the rest once.
_MAX_REMEMBERED_LINES = 32


class HttpRequest:
    """
    One request: method, target (path and query), headers, optional body and timeout.

    ``timeout_s=None`` uses the transport's own.
    """

    __slots__ = ("body", "headers", "method", "target", "timeout_s")

    def __init__(
        self,
        method: str,
        target: str,
        headers: Sequence[Tuple[str, str]],
        body: Optional[bytes] = None,
        timeout_s: Optional[float] = None,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.timeout_s = timeout_s


class Headers(Protocol):
    """An answer's headers, looked up by name whatever its case."""

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The header's value, or ``default``."""
        ...


class HttpResponse:
    """One answer: status, headers (looked up by name, any case) and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Transport(Protocol):
    """Exchange one request for its answer."""

    def handle(self, request: HttpRequest) -> HttpResponse:
        """
        Send ``request`` and read its whole answer.

        Raises:
            OSError: No connection, or it broke or timed out (``socket.timeout``).
            http.client.HTTPException: The answer is not well-formed HTTP.
        """
        ...

    def close(self) -> None:
        """Release every connection. Idempotent."""
        ...


class _OneSend:
    """
    Mixed into an ``http.client`` connection: the request's bytes leave in one ``send``,
    and header lines seen before are not validated and encoded again.
    """

    _pending: Optional[List[bytes]] = None

    def send(self, data: Any) -> None:
        pending = self._pending
        if pending is not None:
            pending.append(bytes(data))
            return
        super().send(data)  # type: ignore[misc]

    def send_request(self, request: HttpRequest, lines: Dict[Tuple[str, str], bytes]) -> None:
        """
        Write ``request``: headers and body gathered, then sent at once.

        ``lines`` remembers the encoded line of each header ``putheader`` checked (a
        backend's fixed ones: host, user agent, key): later requests add that line to the
        connection's buffer as it is (``_output``, what ``putheader`` ends with), which
        saves about 6 us a header on the benchmark's VM.
        """
        conn: Any = self
        conn.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
        output = conn._output
        for header in request.headers:
            line = lines.get(header)
            if line is not None:
                output(line)
                continue
            conn.putheader(*header)  # validated and encoded by http.client
            if len(lines) < _MAX_REMEMBERED_LINES:
                lines[header] = conn._buffer[-1]
        body = request.body
        if body is not None:
            output(b"Content-Length: %d" % len(body))
        elif request.method in ("POST", "PUT", "PATCH"):
            output(b"Content-Length: 0")
        self._pending = []
        try:
            conn.endheaders(body)
            data = b"".join(self._pending)
        finally:
            self._pending = None
        conn.send(data)


class _Http(_OneSend, http.client.HTTPConnection):
    pass


class _Https(_OneSend, http.client.HTTPSConnection):
    pass


class HttpClientTransport:
    """
    :class:`Transport` over ``http.client``: persistent connections, TLS verified.

    Args:
        scheme: ``"http"`` or ``"https"``.
        host: The host name or address.
        port: The TCP port.
        timeout_s: Seconds to wait on connect and on each read, unless a request says.
        ssl_context: The TLS context for ``https`` (default: verified, system CAs).
        max_idle_connections: Idle connections kept for reuse.
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        timeout_s: float,
        ssl_context: Optional[ssl.SSLContext] = None,
        max_idle_connections: int = _DEFAULT_MAX_IDLE_CONNECTIONS,
    ) -> None:
        self._scheme = scheme
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        if scheme == "https" and ssl_context is None:
            ssl_context = ssl.create_default_context()
        self._ssl_context = ssl_context
        self._max_idle = max(0, int(max_idle_connections))
        self._idle: list[_OneSend] = []
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._lines: Dict[Tuple[str, str], bytes] = {}
        self.connections_opened = 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Exchange ``request`` on a pooled connection (see :class:`Transport`)."""
        timeout_s = self._timeout_s if request.timeout_s is None else request.timeout_s
        conn, reused = self._acquire(timeout_s)
        try:
            try:
                answer = self._exchange(conn, request, self._lines)
            except (BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                # The server closed this kept-alive connection while it sat idle (e.g.
                # its keep-alive timeout): the request never reached it. Reconnect once.
                conn.close()  # type: ignore[attr-defined]
                conn = self._new_connection(timeout_s)
                answer = self._exchange(conn, request, self._lines)
        except BaseException:
            conn.close()  # type: ignore[attr-defined]
            raise
        status, headers, body, will_close = answer
        if will_close:
            conn.close()  # type: ignore[attr-defined]
        else:
            self._release(conn)
        return HttpResponse(status, headers, body)

    @staticmethod
    def _exchange(
        conn: _OneSend, request: HttpRequest, lines: Dict[Tuple[str, str], bytes]
    ) -> Tuple[int, Headers, bytes, bool]:
        conn.send_request(request, lines)
        response = conn.getresponse()  # type: ignore[attr-defined]
        body = response.read()
        # The parsed headers as they are: copying each costs more than the few ever read.
        return response.status, response.msg, body, bool(response.will_close)

    def close(self) -> None:
        """Close every idle connection; busy ones close when their exchange ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()  # type: ignore[attr-defined]

    # -- the pool -------------------------------------------------------------------------

    def _acquire(self, timeout_s: float) -> Tuple[_OneSend, bool]:
        if self._pid != os.getpid():
            self._forget_parent_connections()
        with self._lock:
            if self._closed:
                raise RuntimeError("the transport is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return self._new_connection(timeout_s), False
        sock: Optional[socket.socket] = getattr(conn, "sock", None)
        if sock is not None and getattr(conn, "timeout", None) != timeout_s:
            sock.settimeout(timeout_s)
            conn.timeout = timeout_s  # type: ignore[attr-defined]
        return conn, True

    def _forget_parent_connections(self) -> None:
        """In a forked child: drop the parent's sockets (closing our copies leaves theirs open)."""
        self._lock = threading.Lock()  # the parent's may have been held at fork time
        idle, self._idle = self._idle, []
        self._pid = os.getpid()
        for conn in idle:
            conn.close()  # type: ignore[attr-defined]

    def _release(self, conn: _OneSend) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()  # type: ignore[attr-defined]

    def _new_connection(self, timeout_s: float) -> _OneSend:
        conn: _OneSend
        if self._scheme == "https":
            conn = _Https(self._host, self._port, timeout=timeout_s, context=self._ssl_context)
        else:
            conn = _Http(self._host, self._port, timeout=timeout_s)
        conn.connect()  # here, so that a refused connection is told apart from a broken one
        with self._lock:
            self.connections_opened += 1
        return conn
