"""
Comparing a provider error raised through an instrumented client with the raw client's.

The SDK promises to re-raise the provider's own exception: the same object, so the same
type, status, body and message. Provider exception texts carry per-request ids (anthropic
>= 2.17 writes ``request_id: req_...`` into the message, and each request gets a new one),
so two errors of two requests are compared apart from those ids, and identity is checked
against the exceptions the provider SDK itself created.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

_REQUEST_ID = re.compile(r"\breq_[A-Za-z0-9]+")


def without_request_ids(text: str) -> str:
    """The text with every provider request id (``req_...``) replaced by one placeholder."""
    return _REQUEST_ID.sub("req_<id>", text)


def assert_same_provider_error(ours: BaseException, theirs: BaseException) -> None:
    """``ours`` (instrumented) is the error ``theirs`` (raw) is, but for its request's id."""
    assert type(ours) is type(theirs)
    assert getattr(ours, "status_code", None) == getattr(theirs, "status_code", None)
    assert getattr(ours, "body", None) == getattr(theirs, "body", None)
    assert without_request_ids(str(ours)) == without_request_ids(str(theirs))
    assert [without_request_ids(str(a)) for a in ours.args] == [
        without_request_ids(str(a)) for a in theirs.args
    ]


class CreatedErrors:
    """Every status error a provider SDK built from now on (its ``_make_status_error``)."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def assert_raised_as_created(self, raised: BaseException) -> None:
        """``raised`` is one of the very exception objects the provider SDK created."""
        assert any(raised is created for created in self.errors), (raised, self.errors)


def _spy(original: Callable[..., Any], errors: list[BaseException]) -> Callable[..., Any]:
    def make_status_error(self: Any, *args: Any, **kwargs: Any) -> Any:
        error = original(self, *args, **kwargs)
        errors.append(error)
        return error

    return make_status_error


def record_created_errors(monkeypatch: pytest.MonkeyPatch, *client_classes: type) -> CreatedErrors:
    """Watch the status errors the given provider client classes build, in order."""
    created = CreatedErrors()
    patched: set[type] = set()
    for cls in client_classes:
        owner = next(k for k in cls.__mro__ if "_make_status_error" in vars(k))
        if owner not in patched:
            patched.add(owner)
            monkeypatch.setattr(
                owner, "_make_status_error", _spy(vars(owner)["_make_status_error"], created.errors)
            )
    return created
