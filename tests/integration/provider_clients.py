"""Raw provider clients for the tests, closed when the test that opened them ends."""

from __future__ import annotations

from typing import Any, TypeVar

import anthropic

from provenant._fake_provider import FakeProvider

T = TypeVar("T")

_OPEN: list[Any] = []


def closed_after_test(client: T) -> T:
    """Close ``client`` when the current test ends (the conftest's autouse fixture)."""
    _OPEN.append(client)
    return client


def close_opened() -> None:
    """Close every client handed to :func:`closed_after_test` so far."""
    while _OPEN:
        _OPEN.pop().close()


def anthropic_client(fake: FakeProvider, **options: Any) -> Any:
    """A raw Anthropic client on the fake provider (typed Any: the tests pass plain dicts)."""
    return closed_after_test(
        anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0, **options)
    )
