"""
Errors raised by explicit calls of the Provenant SDK.

Tracing never raises into the host application (faults there are logged and
counted); the explicit REST methods of :class:`provenant.ProvenantClient` raise
one of these, branched by who can act on them::

    ProvenantError
    ├── ConfigurationError          bad or missing settings (fix your configuration)
    ├── APIError                    the API answered with an error status
    │   ├── AuthenticationError     401: the key was rejected
    │   ├── NotFoundError           404: no such object in your org
    │   ├── ValidationError         422: the body was refused, with the server's ``issues``
    │   ├── PayloadTooLargeError    413: the body is over the server's limit
    │   ├── RateLimitError          429: slow down, with ``retry_after``
    │   └── ServerError             5xx: the server failed
    ├── TransportError              the request did not get an answer
    │   ├── ConnectionError         could not connect, or the connection broke
    │   └── TimeoutError            no answer in time
    └── ClientClosedError           a closed client was used (also a RuntimeError)

``ProvenantError`` keeps ``status_code`` (``None`` when no answer arrived).
``wait_for_completion`` raises the built-in :class:`TimeoutError` subclass
:class:`EvalTimeoutError` when a run does not complete in time.

.. versionadded:: 0.1
"""

from __future__ import annotations

import builtins
import datetime
import email.utils
from typing import Any, Mapping, Optional, Sequence

__all__ = [
    "APIError",
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectionError",
    "EvalTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProvenantError",
    "RateLimitError",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "error_from_response",
]


class ProvenantError(Exception):
    """
    The base of every error the SDK raises.

    Attributes:
        message: What went wrong and, where possible, what to do about it.
        status_code: The HTTP status the API answered with, or ``None``.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, status_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ProvenantError):
    """
    The SDK is missing a setting it needs, or a setting has an invalid value.

    .. versionadded:: 0.1
    """


class APIError(ProvenantError):
    """
    The Provenant API answered with an error status.

    Attributes:
        body: The decoded error body the server sent (usually ``{"error": ...}``).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.body = body


class AuthenticationError(APIError):
    """
    401: the API key is missing, invalid or expired.

    .. versionadded:: 0.1
    """


class NotFoundError(APIError):
    """
    404: the object does not exist in the organisation of the API key.

    .. versionadded:: 0.1
    """


class ValidationError(APIError):
    """
    422: the server refused the request body.

    Attributes:
        issues: The server's list of validation issues.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = 422,
        body: Any = None,
        issues: Optional[Sequence[Any]] = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.issues: list[Any] = list(issues or [])


class PayloadTooLargeError(APIError):
    """
    413: the request body is larger than the server accepts (5 MB).

    .. versionadded:: 0.1
    """


class RateLimitError(APIError):
    """
    429: too many requests.

    Attributes:
        retry_after: Seconds the server asked us to wait, or ``None``.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = 429,
        body: Any = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.retry_after = retry_after


class ServerError(APIError):
    """
    5xx: the server failed to handle the request.

    .. versionadded:: 0.1
    """


class TransportError(ProvenantError):
    """
    The request got no answer: the network or the server's socket failed.

    .. versionadded:: 0.1
    """


class ConnectionError(TransportError):
    """
    Could not connect to the API, or the connection broke mid-request.

    .. versionadded:: 0.1
    """


class TimeoutError(TransportError):
    """
    The API did not answer within the timeout.

    .. versionadded:: 0.1
    """


class ClientClosedError(ProvenantError, RuntimeError):
    """
    A method was called on a client that was already shut down.

    .. versionadded:: 0.1
    """


class EvalTimeoutError(ProvenantError, builtins.TimeoutError):
    """
    An eval run did not complete within ``wait_for_completion``'s timeout.

    Attributes:
        run_id: The id of the run that was waited for.
        last_status: The last status the server reported for it.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, run_id: str, last_status: Optional[str]) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.last_status = last_status


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """
    Read a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110, 10.2.3).

    Args:
        value: The header's value, or ``None``.

    Returns:
        Seconds to wait (never negative), or ``None`` when absent or unreadable.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def error_from_response(
    status_code: int,
    body: Any,
    *,
    method: str,
    path: str,
    headers: Optional[Mapping[str, str]] = None,
    key_prefix: Optional[str] = None,
) -> APIError:
    """
    Build the error that matches an error answer of the API.

    Args:
        status_code: The HTTP status (400 or above).
        body: The decoded body (``{"error": ..., "issues": [...]}``) or raw text.
        method: The request's method, for the message.
        path: The request's path, for the message.
        headers: The response headers (``Retry-After`` is read from them).
        key_prefix: A safe prefix of the API key used (never the key itself).

    Returns:
        An :class:`APIError` subclass instance; the caller raises it.
    """
    server_message = ""
    if isinstance(body, dict):
        server_message = str(body.get("error") or body.get("message") or "")
    elif isinstance(body, str):
        server_message = body.strip()[:200]
    where = f"{method} {path}"
    said = f": {server_message}" if server_message else ""
    if status_code == 401:
        if key_prefix:
            advice = (
                f"the API key {key_prefix}... was rejected. Check PROVENANT_API_KEY or the "
                "api_key argument, and that the key is not revoked."
            )
        else:
            advice = "no API key was sent. Set PROVENANT_API_KEY or pass api_key."
        return AuthenticationError(
            f"{where} was refused (401{said}); {advice}",
            status_code=status_code,
            body=body,
        )
    if status_code == 404:
        return NotFoundError(
            f"{where} found nothing (404{said}); check the id, and that it belongs to the "
            "organisation of your API key.",
            status_code=status_code,
            body=body,
        )
    if status_code == 422:
        issues = body.get("issues") if isinstance(body, dict) else None
        return ValidationError(
            f"{where} was refused as invalid (422{said}): {issues!r}",
            status_code=status_code,
            body=body,
            issues=issues if isinstance(issues, list) else None,
        )
    if status_code == 413:
        return PayloadTooLargeError(
            f"{where} sent a body over the server's limit (413{said}); send less content.",
            status_code=status_code,
            body=body,
        )
    if status_code == 429:
        retry_after = parse_retry_after((headers or {}).get("Retry-After"))
        wait = f" retry after {retry_after:g} s" if retry_after is not None else " retry later"
        return RateLimitError(
            f"{where} was rate limited (429{said});{wait}.",
            status_code=status_code,
            body=body,
            retry_after=retry_after,
        )
    if status_code >= 500:
        return ServerError(
            f"{where} failed on the server ({status_code}{said}); retry later.",
            status_code=status_code,
            body=body,
        )
    return APIError(
        f"{where} was refused ({status_code}{said}).", status_code=status_code, body=body
    )
