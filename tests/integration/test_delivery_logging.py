"""Records lost or delayed are never silent: the provenant logger says so, rate-limited."""

from __future__ import annotations

import logging
import re
import socket
from typing import Iterator

import pytest

from provenant import _logging
from provenant.client import ProvenantClient


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fresh_fault_log() -> Iterator[None]:
    """The repeat filter forgets earlier tests' faults, so this test's first lines show."""
    _logging._reset_for_tests()
    yield
    _logging._reset_for_tests()


@pytest.mark.usefixtures("in_memory_queue")
@pytest.mark.usefixtures("fresh_fault_log")
def test_an_unreachable_api_is_logged_once_and_every_drop_is_counted_aloud(
    closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With the API unreachable: one warning names the destination, one error per reason
    says events were dropped, and the shutdown says how many were lost in all; never a
    line per event, never the key."""
    key = "pk_live_" + "ab" * 16
    client = ProvenantClient(
        base_url=closed_port_url, api_key=key, agent_id="Bot", max_delivery_attempts=2
    )
    with caplog.at_level(logging.DEBUG, logger="provenant"):
        for _ in range(5):
            with client.session() as session:
                session.add_turn("USER", "hello")
        assert client.flush(10) is False
        client.shutdown(timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "provenant"]
    dropped = client.stats()["dropped"]
    assert dropped == {"retries_exhausted": 5, "session_not_created": 10}
    unreachable = [line for line in lines if "cannot deliver to" in line]
    assert len(unreachable) == 1 and closed_port_url in unreachable[0]
    assert "Connection refused" in unreachable[0]
    per_reason = [line for line in lines if line.startswith("provenant: dropped")]
    assert sorted(re.findall(r"\((\w+):", " ".join(per_reason))) == sorted(dropped)
    # A turn's drop says why its session was not created.
    [not_created] = [line for line in per_reason if "(session_not_created:" in line]
    assert "its create was dropped as retries_exhausted" in not_created
    [summary] = [line for line in lines if "never delivered" in line]
    assert summary.startswith("provenant: 15 events were never delivered")
    assert "retries_exhausted: 5" in summary and "session_not_created: 10" in summary
    assert len(lines) == 4
    assert all(key not in line for line in lines)
