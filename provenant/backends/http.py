"""
The REST API over HTTP/1.1: persistent connections, standard library only.

::

    backend = HttpBackend("http://127.0.0.1:4000", api_key="pk_live_...")
    agents = backend.request("GET", "/api/agents")
    backend.close()

One :class:`HttpBackend` keeps a pool of idle HTTP/1.1 keep-alive connections; a
request borrows one (so a connection serves one thread at a time) and gives it back
when the answer is read. A kept-alive connection that the server closed meanwhile is
replaced transparently, once. Requests are written in one ``sendall()`` and answers
read by the small parser of :mod:`provenant.backends._http11`: measured here against
the same server, ``http.client`` managed about 1,300 small POSTs a second from 4
threads where this manages over 10,000. A forked child never touches its parent's
connections: it opens its own. Transient failures of requests that are safe to repeat
are retried with exponential backoff and full jitter (see :meth:`HttpBackend.request`).

The API key is only ever written into the ``Authorization`` header: it is not part of
the backend's repr, of any log line or of any exception message.
"""

from __future__ import annotations

import builtins

# socket.getaddrinfo() and TLS encode the host name with the "idna" codec, whose first
# use imports it: imported here, so that a background thread connecting never imports
# (a fork during an import leaves the child's next import of that module locked).
import encodings.idna  # noqa: F401
import json
import logging
import os
import platform
import random
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Mapping, Optional, Tuple

from provenant._json import request_body
from provenant._version import __version__
from provenant.backends._http11 import Connection, ProtocolError
from provenant.config import key_prefix
from provenant.errors import (
    APIError,
    ClientClosedError,
    ConfigurationError,
    ConnectionError,
    ProvenantError,
    RateLimitError,
    TimeoutError,
    error_from_response,
)

__all__ = ["USER_AGENT", "HttpBackend"]

logger = logging.getLogger("provenant")

#: The ``User-Agent`` header every request carries.
USER_AGENT = (
    f"provenant-sdk/{__version__} python/{platform.python_version_tuple()[0]}."
    + (platform.python_version_tuple()[1])
)

_DEFAULT_TIMEOUT_S = 30.0
_DEFAULT_ATTEMPTS = 3
_DEFAULT_BACKOFF_S = 0.25
_MAX_BACKOFF_S = 8.0
_MAX_RETRY_AFTER_S = 30.0
_DEFAULT_MAX_IDLE_CONNECTIONS = 16
_RETRYABLE_STATUSES = frozenset({502, 503, 504})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_JSON_LENGTH = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"


class _Retryable(Exception):
    """Internal: one attempt failed in a way that another attempt may cure."""

    def __init__(self, error: ProvenantError, *, always: bool, wait_s: Optional[float]) -> None:
        super().__init__(str(error))
        self.error = error
        # True when the request certainly did not reach the application (refused
        # connection, 429): repeating it is safe whatever its method.
        self.always = always
        # A wait the server asked for (Retry-After), instead of our own backoff.
        self.wait_s = wait_s


class HttpBackend:
    """
    Send requests of the REST contract to a Provenant API over HTTP(S).

    Args:
        url: The API's base URL, e.g. ``https://api.provenant.dev`` or
            ``http://127.0.0.1:4000`` (a path prefix is kept).
        api_key: Sent as ``Authorization: Bearer <key>``; ``None`` sends no header.
        timeout: Seconds to wait on connect and for each read of an answer.
        max_idle_connections: Idle keep-alive connections kept for reuse.
        backoff_s: The first backoff between attempts; each next one doubles, with
            full jitter, up to 8 s.
        ssl_context: The TLS context for ``https`` (default: verified, system CAs).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        url: str,
        api_key: Optional[str] = None,
        timeout: float = _DEFAULT_TIMEOUT_S,
        *,
        max_idle_connections: int = _DEFAULT_MAX_IDLE_CONNECTIONS,
        backoff_s: float = _DEFAULT_BACKOFF_S,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{url!r} is not an http:// or https:// URL.")
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, not {timeout!r}.")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        # Credentials in a URL would end up in messages; keep only what is safe to show.
        netloc = self._host if ":" not in self._host else f"[{self._host}]"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        self._url = f"{parts.scheme}://{netloc}{self._prefix}"
        self._timeout = float(timeout)
        self._max_idle = max(0, int(max_idle_connections))
        self._backoff_s = max(0.0, float(backoff_s))
        self._ssl_context = ssl_context
        if self._scheme == "https" and self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        self._key_prefix = key_prefix(api_key)
        default_port = 443 if self._scheme == "https" else 80
        host_header = self._host if ":" not in self._host else f"[{self._host}]"
        if self._port != default_port:
            host_header = f"{host_header}:{self._port}"
        headers = [
            f"Host: {host_header}",
            f"User-Agent: {USER_AGENT}",
            "Accept: application/json",
            "Connection: keep-alive",
        ]
        if api_key:
            if "\r" in api_key or "\n" in api_key:
                raise ConfigurationError("the API key holds a line break; check its value.")
            headers.append(f"Authorization: Bearer {api_key}")
        # Built once: every request carries these bytes after its request line.
        self._static_headers = "".join(f"{line}\r\n" for line in headers).encode("latin-1")
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._addresses: Optional[list[Any]] = None
        self._connections_opened = 0

    # -- public ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL requests go to (without credentials)."""
        return self._url

    @property
    def connections_opened(self) -> int:
        """How many TCP connections this backend opened so far (keep-alive reuse shows here)."""
        return self._connections_opened

    def __repr__(self) -> str:
        return f"HttpBackend(url={self._url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
        decode: bool = True,
    ) -> Any:
        """
        Send one request and return the decoded JSON body of its 2xx answer.

        Transient failures are connection errors, timeouts, ``429`` and ``502``/``503``/
        ``504``. With ``retries=None`` they are retried (3 attempts in all) when the
        request is safe to repeat: a ``GET``/``DELETE``, or a write carrying an
        ``Idempotency-Key``; a refused connection and a ``429`` are retried whatever the
        method, since the server did nothing. A ``429`` waits what ``Retry-After`` says.
        ``retries=N`` allows N retries of safe requests; ``retries=0`` never retries.

        Args:
            method: ``GET``, ``POST``, ``PATCH`` or ``DELETE``.
            path: The route, e.g. ``/api/sessions``.
            body: A JSON-serialisable body, or ``None``.
            query: Query parameters, URL-encoded into the target.
            idempotency_key: Sent as the ``Idempotency-Key`` header.
            timeout: Overrides the backend's timeout for this request (seconds).
            retries: See above.
            decode: ``False`` when nobody reads a 2xx answer (the exporter's turns and
                ends): its body is not decoded and ``None`` is returned. Error answers
                are always decoded.

        Returns:
            The decoded JSON answer, or ``None`` for an empty body (or ``decode=False``).

        Raises:
            provenant.errors.APIError: The server answered 4xx/5xx (subclass by status).
            provenant.errors.ConnectionError: No connection, or it broke.
            provenant.errors.TimeoutError: No answer within the timeout.
            provenant.errors.ClientClosedError: The backend was closed.

        .. versionadded:: 0.1
        """
        method = method.upper()
        target = self._prefix + path
        if query:
            target = f"{target}?{urllib.parse.urlencode(query)}"
        payload: Optional[bytes] = None
        if body is not None:
            payload = request_body(body, f"{method} {path}")
        safe = method in _SAFE_METHODS or idempotency_key is not None
        if retries is None:
            retries = _DEFAULT_ATTEMPTS - 1
        attempt = 0
        while True:
            try:
                return self._attempt(
                    method, path, target, payload, idempotency_key, timeout, decode
                )
            except _Retryable as failure:
                if attempt >= retries or not (safe or failure.always):
                    raise failure.error from failure.error.__cause__
                wait_s = self._wait_before_retry(attempt, failure)
                if wait_s is None:
                    raise failure.error from failure.error.__cause__
                attempt += 1
                logger.debug(
                    "provenant: %s %s failed (%s); attempt %d in %.3f s",
                    method,
                    path,
                    type(failure.error).__name__,
                    attempt + 1,
                    wait_s,
                )
                time.sleep(wait_s)

    def close(self) -> None:
        """
        Close every idle connection; connections in use close when their request ends.

        .. versionadded:: 0.1
        """
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- one attempt ----------------------------------------------------------------------

    def _attempt(
        self,
        method: str,
        path: str,
        target: str,
        payload: Optional[bytes],
        idempotency_key: Optional[str],
        timeout: Optional[float],
        decode: bool = True,
    ) -> Any:
        message = self._message(method, target, payload, idempotency_key)
        head = method == "HEAD"
        conn: Optional[Connection] = None
        try:
            conn, reused = self._acquire(timeout)
            try:
                response = conn.exchange(message, head=head)
            except (BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                # The server closed this kept-alive connection while it sat idle (e.g.
                # its keep-alive timeout): the request never reached it. Reconnect once.
                conn.close()
                conn = None
                conn = self._new_connection(timeout)
                response = conn.exchange(message, head=head)
        except ssl.SSLCertVerificationError as exc:
            _close(conn)
            raise ConnectionError(
                f"{method} {self._url}{path}: the server's TLS certificate was refused ({exc})."
            ) from exc
        except (socket.timeout, builtins.TimeoutError) as exc:
            _close(conn)
            timed_out = TimeoutError(
                f"{method} {self._url}{path} got no answer within "
                f"{timeout or self._timeout:g} s; the API may be overloaded or unreachable."
            )
            timed_out.__cause__ = exc
            raise _Retryable(timed_out, always=False, wait_s=None) from exc
        except (OSError, ProtocolError) as exc:
            _close(conn)
            # A refused connection never reached the application: always safe to repeat.
            refused = isinstance(exc, ConnectionRefusedError)
            broken = ConnectionError(
                f"{method} {self._url}{path} failed: {_describe(exc)}; "
                "check the base URL and that the API is reachable."
            )
            broken.__cause__ = exc
            raise _Retryable(broken, always=refused, wait_s=None) from exc
        except BaseException:
            _close(conn)
            raise
        if response.keep_alive:
            self._release(conn)
        else:
            conn.close()
        status = response.status
        if not decode and 200 <= status < 300:
            return None  # nobody reads it: not decoded
        retry_after = response.headers.get("retry-after") if status == 429 else None
        return self._answer(method, path, status, retry_after, response.body)

    def _message(
        self,
        method: str,
        target: str,
        payload: Optional[bytes],
        idempotency_key: Optional[str],
    ) -> bytes:
        """The whole request as bytes, sent in one ``sendall()``."""
        if "\r" in target or "\n" in target or " " in target:
            raise ValueError(f"the request target {target!r} holds whitespace or a line break.")
        parts = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), self._static_headers]
        if idempotency_key is not None:
            if "\r" in idempotency_key or "\n" in idempotency_key:
                raise ValueError("an Idempotency-Key cannot hold a line break.")
            parts.append(b"Idempotency-Key: %s\r\n" % idempotency_key.encode("latin-1"))
        if payload is not None:
            parts.append(_JSON_LENGTH % len(payload))
            parts.append(payload)
        elif method in ("POST", "PUT", "PATCH"):
            parts.append(b"Content-Length: 0\r\n\r\n")
        else:
            parts.append(b"\r\n")
        return b"".join(parts)

    def _answer(
        self, method: str, path: str, status: int, retry_after: Optional[str], data: bytes
    ) -> Any:
        decoded: Any = None
        if data:
            try:
                decoded = json.loads(data)
            except ValueError:
                decoded = data.decode("utf-8", "replace")
                if 200 <= status < 300:
                    raise APIError(
                        f"{method} {path} answered {status} with a body that is not JSON "
                        f"({decoded[:80]!r}); is {self._url} a Provenant API?",
                        status_code=status,
                        body=decoded,
                    ) from None
        if 200 <= status < 300:
            return decoded
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        error = error_from_response(
            status, decoded, method=method, path=path, headers=headers, key_prefix=self._key_prefix
        )
        if status == 429:
            assert isinstance(error, RateLimitError)
            raise _Retryable(error, always=True, wait_s=error.retry_after)
        if status in _RETRYABLE_STATUSES:
            raise _Retryable(error, always=False, wait_s=None)
        raise error

    def _wait_before_retry(self, attempt: int, failure: _Retryable) -> Optional[float]:
        """Seconds to sleep before the next attempt, or ``None`` to give up now."""
        if failure.wait_s is not None:
            if failure.wait_s > _MAX_RETRY_AFTER_S:
                return None
            return failure.wait_s
        ceiling = min(_MAX_BACKOFF_S, self._backoff_s * (2**attempt))
        return random.uniform(0.0, ceiling)

    # -- the pool -------------------------------------------------------------------------

    def _acquire(self, timeout: Optional[float]) -> Tuple[Connection, bool]:
        if self._pid != os.getpid():
            self._forget_parent_connections()
        with self._lock:
            if self._closed:
                raise ClientClosedError("this backend was closed; build a new client.")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return self._new_connection(timeout), False
        conn.set_timeout(self._timeout if timeout is None else timeout)
        return conn, True

    def _forget_parent_connections(self) -> None:
        """In a forked child: drop the parent's sockets (closing our copies leaves theirs open)."""
        self._lock = threading.Lock()  # the parent's may have been held at fork time
        idle, self._idle = self._idle, []
        self._pid = os.getpid()
        for conn in idle:
            conn.close()

    def _release(self, conn: Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _new_connection(self, timeout: Optional[float]) -> Connection:
        wanted = self._timeout if timeout is None else timeout
        # Resolve the host once per backend rather than for every new connection.
        addresses = self._addresses
        if addresses is None:
            addresses = socket.getaddrinfo(self._host, self._port, 0, socket.SOCK_STREAM)
            self._addresses = addresses
        try:
            conn = Connection.open(addresses, self._host, wanted, self._ssl_context)
        except OSError:
            # The host may have moved: resolve it again next time.
            self._addresses = None
            raise
        with self._lock:
            self._connections_opened += 1
        return conn


def _close(conn: Optional[Connection]) -> None:
    if conn is not None:
        conn.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
