"""The error tree and the mapping of error answers to exceptions."""

from __future__ import annotations

import builtins
import email.utils
import time
from typing import Any

import pytest

from provenant import errors
from provenant.errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    ConnectionError,
    EvalTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    ProvenantError,
    RateLimitError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
    error_from_response,
    parse_retry_after,
)

KEY = "pk_live_0123456789abcdef0123456789abcdef"


def _error(status: int, body: Any = None, **kwargs: Any) -> APIError:
    return error_from_response(status, body, method="GET", path="/api/agents", **kwargs)


def test_the_tree_is_branched_by_who_can_act() -> None:
    """API, transport and settings errors share a base; a closed client is a RuntimeError."""
    for cls in (
        AuthenticationError,
        NotFoundError,
        ValidationError,
        PayloadTooLargeError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(cls, APIError)
    assert issubclass(ConnectionError, TransportError)
    assert issubclass(TimeoutError, TransportError)
    for base in (APIError, TransportError, ConfigurationError, ClientClosedError, EvalTimeoutError):
        assert issubclass(base, ProvenantError)
    assert issubclass(ClientClosedError, RuntimeError)
    assert issubclass(EvalTimeoutError, builtins.TimeoutError)
    assert not issubclass(TimeoutError, builtins.TimeoutError)


def test_every_name_in_all_exists_and_is_documented() -> None:
    """errors.__all__ lists real, documented, sorted names."""
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        assert getattr(errors, name).__doc__


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, APIError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (409, APIError),
        (413, PayloadTooLargeError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
def test_status_maps_to_its_class(status: int, cls: type) -> None:
    """Each error status maps to its class and keeps the status and body."""
    body = {"error": "boom"}
    error = _error(status, body)
    assert type(error) is cls
    assert error.status_code == status
    assert error.body == body
    assert "GET /api/agents" in str(error)
    assert "boom" in str(error)


def test_401_names_the_key_by_prefix_only() -> None:
    """A 401 says which key was refused by its prefix, never the key."""
    error = _error(401, {"error": "Invalid or expired API key"}, key_prefix="pk_live_0123")
    assert "pk_live_0123..." in str(error)
    assert KEY not in str(error)
    assert "Invalid or expired API key" in str(error)


def test_401_without_a_key_says_none_was_sent() -> None:
    """A 401 without a key tells the user to configure one."""
    assert "no API key was sent" in str(_error(401, {"error": "Missing"}))


def test_422_keeps_the_issues() -> None:
    """A 422 carries the server's issues list and shows it in the message."""
    issues = [{"path": ["name"], "message": "Required"}]
    error = _error(422, {"error": "Validation error", "issues": issues})
    assert isinstance(error, ValidationError)
    assert error.issues == issues
    assert "Required" in str(error)


def test_422_with_no_issues_has_an_empty_list() -> None:
    """A 422 whose body has no issues gives an empty issues list."""
    error = _error(422, "not json")
    assert isinstance(error, ValidationError)
    assert error.issues == []


def test_429_reads_retry_after() -> None:
    """A 429 reads Retry-After into retry_after and says when to retry."""
    error = _error(429, {"error": "Too many requests"}, headers={"Retry-After": "12"})
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 12.0
    assert "retry after 12 s" in str(error)
    assert _error(429, None).retry_after is None  # type: ignore[attr-defined]


def test_a_text_body_is_quoted_briefly() -> None:
    """A non-JSON error body appears in the message, cut to 200 characters."""
    error = _error(502, "x" * 1000)
    assert "x" * 200 in str(error)
    assert "x" * 201 not in str(error)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after_seconds(value: Any, expected: Any) -> None:
    """Retry-After in seconds is read, clamped at zero, and nonsense is None."""
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    """Retry-After as an HTTP-date gives the seconds until then."""
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None and 25 <= seconds <= 31
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after(earlier) == 0.0


def test_provenant_error_str_is_its_message() -> None:
    """str() of an error is its message and status_code defaults to None."""
    error = ProvenantError("what to do")
    assert str(error) == "what to do"
    assert error.status_code is None


def test_eval_timeout_error_keeps_the_run() -> None:
    """EvalTimeoutError carries the run id and its last status."""
    error = EvalTimeoutError("late", run_id="r1", last_status="RUNNING")
    assert (error.run_id, error.last_status, str(error)) == ("r1", "RUNNING", "late")
