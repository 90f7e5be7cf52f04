"""
The REST API over HTTP: the contract's headers, errors and retries, over a transport.

::

    backend = HttpBackend("http://127.0.0.1:4000", api_key="pk_live_...")
    agents = backend.request("GET", "/api/agents")
    backend.close()

Each attempt is one exchange on a :class:`~provenant.backends._transport.Transport`
(by default :class:`~provenant.backends._transport.HttpClientTransport`: the standard
library's ``http.client``, persistent connections, headers and body in one send, a
forked child on connections of its own). Transient failures of requests that are safe to
repeat are retried as :mod:`provenant.backends._retry` says (see
:meth:`HttpBackend.request`).

The API key is only ever written into the ``Authorization`` header: it is not part of
the backend's repr, of any log line or of any exception message.
"""

from __future__ import annotations

import builtins
import http.client
import json
import logging
import platform
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Mapping, Optional

from provenant._json import request_body
from provenant._version import __version__
from provenant._wire import shown_key
from provenant.backends._pacing import PaceInterrupted, PaceTooLong, RateLimit, pacer_for
from provenant.backends._retry import EXPLICIT_CALLS, RetryPolicy
from provenant.backends._transport import (
    HttpClientTransport,
    HttpRequest,
    HttpResponse,
    Transport,
)
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
_DEFAULT_MAX_IDLE_CONNECTIONS = 16
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class _Retryable(Exception):
    """Internal: one attempt failed in a way that another attempt may cure."""

    def __init__(
        self,
        error: ProvenantError,
        *,
        always: bool,
        wait_s: Optional[float],
        throttled: bool = False,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        # True when the request certainly did not reach the application (refused
        # connection, 429): repeating it is safe whatever its method.
        self.always = always
        # A wait the server asked for (Retry-After), instead of our own backoff.
        self.retry_after_s = wait_s
        # A 429: the pacer holds the next attempt as long as the server said.
        self.throttled = throttled


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
        transport: What carries each exchange (default: an ``http.client`` pool built
            from the arguments above).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        url: str,
        api_key: Optional[str] = None,
        timeout: float = _DEFAULT_TIMEOUT_S,
        *,
        max_idle_connections: int = _DEFAULT_MAX_IDLE_CONNECTIONS,
        backoff_s: float = EXPLICIT_CALLS.base_s,
        ssl_context: Optional[ssl.SSLContext] = None,
        transport: Optional[Transport] = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{url!r} is not an http:// or https:// URL.")
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, not {timeout!r}.")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        # Credentials in a URL would end up in messages; keep only what is safe to show.
        netloc = host if ":" not in host else f"[{host}]"
        host_header = netloc
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if port != (443 if parts.scheme == "https" else 80):
            host_header = f"{host_header}:{port}"
        self._url = f"{parts.scheme}://{netloc}{self._prefix}"
        self._timeout = float(timeout)
        self._policy: RetryPolicy = EXPLICIT_CALLS.with_base(backoff_s)
        self._key_prefix = shown_key(api_key)
        # HTTP/1.1 keeps connections alive unless told otherwise; every header costs a
        # validated putheader() in http.client, so only those the contract needs go.
        headers = [("Host", host_header), ("User-Agent", USER_AGENT)]
        if api_key:
            if "\r" in api_key or "\n" in api_key:
                raise ConfigurationError("the API key holds a line break; check its value.")
            headers.append(("Authorization", f"Bearer {api_key}"))
        self._headers = tuple(headers)
        self._pool: Optional[HttpClientTransport] = None
        if transport is None:
            transport = self._pool = HttpClientTransport(
                parts.scheme,
                host,
                port,
                timeout_s=self._timeout,
                ssl_context=ssl_context,
                max_idle_connections=max_idle_connections,
            )
        self._transport = transport
        # Every backend to this origin shares its pacer: the limit is per address.
        self._pacer = pacer_for(parts.scheme, host, port)
        self._stop = threading.Event()  # ends waits for the pacer (interrupt, close)
        self._closed = False

    # -- public ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL requests go to (without credentials)."""
        return self._url

    @property
    def connections_opened(self) -> int:
        """How many TCP connections this backend opened so far (keep-alive reuse shows here)."""
        return self._pool.connections_opened if self._pool is not None else 0

    @property
    def rate_limit(self) -> RateLimit:
        """
        What the API last said about its rate limit, shared by every backend to the same
        origin in this process: ``limit``, ``remaining``, ``reset_s`` (``None`` until an
        answer carried ``RateLimit-*`` headers), ``throttled`` (429s received), ``hold_s``
        (seconds requests still wait because a 429 said so) and ``seen_at``.

        .. versionadded:: 0.1
        """
        return self._pacer.snapshot()

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
        ``504`` (:mod:`provenant.backends._retry` says why a plain ``500`` is not one
        here). With ``retries=None`` they are retried (3 attempts in all) when the
        request is safe to repeat: a ``GET``/``DELETE``, or a write carrying an
        ``Idempotency-Key``; a refused connection and a ``429`` are retried whatever the
        method, since the server did nothing. A ``429`` waits what ``Retry-After`` says.
        ``retries=N`` allows N retries of safe requests; ``retries=0`` never retries.

        Every attempt first waits for its turn under the API's rate limit (see
        :mod:`provenant.backends._pacing`): not at all until an answer carries
        ``RateLimit-*`` headers. A request made with ``retries=0`` (background delivery,
        which retries on its own schedule) waits as long as it takes, until
        :meth:`interrupt` or :meth:`close`; any other raises :class:`RateLimitError`
        without sending when its turn is more than 30 s away (the longest
        ``Retry-After`` an explicit call waits for).

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
            provenant.errors.ClientClosedError: The backend was closed or interrupted.

        .. versionadded:: 0.1
        """
        method = method.upper()
        target = self._prefix + path
        if query:
            target = f"{target}?{urllib.parse.urlencode(query)}"
        if "\r" in target or "\n" in target or " " in target:
            raise ValueError(f"the request target {target!r} holds whitespace or a line break.")
        headers = self._headers
        if idempotency_key is not None:
            if "\r" in idempotency_key or "\n" in idempotency_key:
                raise ValueError("an Idempotency-Key cannot hold a line break.")
            headers = (*headers, ("Idempotency-Key", idempotency_key))
        payload: Optional[bytes] = None
        if body is not None:
            payload = request_body(body, f"{method} {path}")
            headers = (*headers, ("Content-Type", "application/json"))
        exchange = HttpRequest(method, target, headers, payload, timeout)
        safe = method in _SAFE_METHODS or idempotency_key is not None
        max_wait_s = None if retries == 0 else self._policy.retry_after_limit_s
        if retries is None:
            retries = _DEFAULT_ATTEMPTS - 1
        attempt = 0
        while True:
            try:
                return self._attempt(exchange, path, decode, max_wait_s)
            except _Retryable as failure:
                if attempt >= retries or not (safe or failure.always):
                    raise failure.error from failure.error.__cause__
                wait_s = self._policy.wait_s(attempt, failure.retry_after_s)
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
                if not failure.throttled:  # a 429's wait is the pacer's, before the attempt
                    time.sleep(wait_s)

    def close(self) -> None:
        """
        Close every idle connection; connections in use close when their request ends.

        .. versionadded:: 0.1
        """
        self._closed = True
        self._stop.set()
        self._transport.close()

    def interrupt(self) -> None:
        """
        End every wait for the rate limit at once (shutdown): a waiting request raises
        :class:`~provenant.errors.ClientClosedError` unsent, and so does every later
        request that would have to wait. Requests that need no wait still go.

        .. versionadded:: 0.1
        """
        self._stop.set()

    # -- one attempt ----------------------------------------------------------------------

    def _attempt(
        self, exchange: HttpRequest, path: str, decode: bool, max_wait_s: Optional[float]
    ) -> Any:
        method = exchange.method
        if self._closed:
            raise ClientClosedError("this backend was closed; build a new client.")
        try:
            ticket = self._pacer.acquire(self._stop, max_wait_s)
        except PaceInterrupted:
            raise ClientClosedError(
                f"{method} {path} was not sent: the backend was closed or shut down while "
                "it waited for the API's rate limit."
            ) from None
        except PaceTooLong as exc:
            raise RateLimitError(
                f"{method} {path} was not sent: the API's rate limit allows the next "
                f"request in {exc.wait_s:.0f} s (over the {max_wait_s:g} s an explicit call "
                "waits); retry later.",
                retry_after=exc.wait_s,
            ) from None
        try:
            answer = self._transport.handle(exchange)
        except ssl.SSLCertVerificationError as exc:
            raise ConnectionError(
                f"{method} {self._url}{path}: the server's TLS certificate was refused ({exc})."
            ) from exc
        except (socket.timeout, builtins.TimeoutError) as exc:
            timed_out = TimeoutError(
                f"{method} {self._url}{path} got no answer within "
                f"{exchange.timeout_s or self._timeout:g} s; the API may be overloaded or "
                "unreachable."
            )
            timed_out.__cause__ = exc
            raise _Retryable(timed_out, always=False, wait_s=None) from exc
        except (OSError, http.client.HTTPException) as exc:
            # A refused connection never reached the application: always safe to repeat.
            refused = isinstance(exc, ConnectionRefusedError)
            broken = ConnectionError(
                f"{method} {self._url}{path} failed: {_describe(exc)}; "
                "check the base URL and that the API is reachable."
            )
            broken.__cause__ = exc
            raise _Retryable(broken, always=refused, wait_s=None) from exc
        except RuntimeError as exc:
            if self._closed:
                raise ClientClosedError("this backend was closed; build a new client.") from None
            raise exc
        status = answer.status
        self._pacer.observe(ticket, status, answer.headers)
        if not decode and 200 <= status < 300:
            return None  # nobody reads it: not decoded
        return self._answer(method, path, answer)

    def _answer(self, method: str, path: str, answer: HttpResponse) -> Any:
        status, data = answer.status, answer.body
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
        retry_after = answer.headers.get("retry-after") if status == 429 else None
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        error = error_from_response(
            status, decoded, method=method, path=path, headers=headers, key_prefix=self._key_prefix
        )
        if status == 429:
            assert isinstance(error, RateLimitError)
            raise _Retryable(error, always=True, wait_s=error.retry_after, throttled=True)
        if self._policy.retries_status(status):
            raise _Retryable(error, always=False, wait_s=None)
        raise error


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return f"the answer broke off after {len(exc.partial)} bytes"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, OSError):
        return f"the answer is malformed ({type(exc).__name__}: {str(exc)[:80]})"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
