"""Fixtures of the integration tests: the fake model provider on 127.0.0.1."""

from __future__ import annotations

from typing import Iterator

import pytest

from provenant._fake_provider import FakeProvider, start_fake_provider


@pytest.fixture(scope="session")
def _fake_provider_server() -> Iterator[FakeProvider]:
    with start_fake_provider() as provider:
        yield provider


@pytest.fixture
def fake_provider(_fake_provider_server: FakeProvider) -> Iterator[FakeProvider]:
    """The fake provider, with an empty script and no recorded requests for this test."""
    _fake_provider_server.reset()
    yield _fake_provider_server
    _fake_provider_server.reset()
