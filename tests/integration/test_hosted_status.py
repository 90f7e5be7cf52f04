"""
A session's FAILED/CANCELLED outcome survives a server whose end route drops ``status``.

The hosted platform's double (``hosted_double.py``, before the real local server) ignores
``status`` on ``POST /api/sessions/:id/end`` as the hosted server does; the REST exporter
then carries the outcome in the metadata of the session's create or last turn. Against
``provenant serve``, which keeps the status, recorded metadata stays as recorded.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any, Callable, Iterator

import pytest
from hosted_double import HostedDouble

from provenant.backends._agents import AgentDirectory
from provenant.backends._http_exporter import HttpExporter
from provenant.backends._records import Record, SessionEnd, SessionStart, TurnRecord
from provenant.backends.http import HttpBackend
from provenant.client import ProvenantClient
from provenant.server import LocalServer


def _keys() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: str(uuid.UUID(int=next(counter) + 1, version=4))


class Destination:
    """An exporter and a reading client on one server (the double, or the real one)."""

    def __init__(self, url: str, key: str) -> None:
        self.exporter = HttpExporter(
            HttpBackend(url, api_key=key),
            AgentDirectory(),
            max_attempts=2,
            key_prefix=None,
            new_key=_keys(),
        )
        self.reader = ProvenantClient(base_url=url, api_key=key, enabled=False)

    def send(self, records: list[Record]) -> dict[str, str]:
        result = self.exporter.export(records)
        assert result.outcomes == [None] * len(records)
        return result.session_ids

    def session(self, session_id: str) -> dict[str, Any]:
        return self.reader.get_session(session_id)

    def close(self) -> None:
        self.exporter.shutdown()
        self.reader.shutdown(timeout=5)


@pytest.fixture
def hosted(provenant_server: LocalServer) -> Iterator[Destination]:
    double = HostedDouble(provenant_server.url, "hosted")
    destination = Destination(double.url, provenant_server.create_api_key())
    yield destination
    destination.close()
    double.close()


@pytest.fixture
def local(provenant_server: LocalServer) -> Iterator[Destination]:
    destination = Destination(provenant_server.url, provenant_server.create_api_key())
    yield destination
    destination.close()


def _session(key: str, end: str, **metadata: Any) -> list[Record]:
    return [
        SessionStart(key, agent="Status Bot", external_id=key, metadata=dict(metadata)),
        TurnRecord(key, role="USER", content="hi"),
        TurnRecord(key, role="ASSISTANT", content="oops", metadata={"model": "m"}),
        SessionEnd(key, status=end),
    ]


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_a_whole_session_in_one_batch_carries_its_outcome_on_its_create(
    hosted: Destination, status: str
) -> None:
    """Created and ended in one batch: the create's metadata says status, turns are untouched."""
    ids = hosted.send(_session("k1", status, user="u"))
    session = hosted.session(ids["k1"])
    assert session["status"] == "COMPLETED"  # what the hosted end route makes of it
    assert session["metadata"] == {"user": "u", "status": status}
    assert [t["metadata"] for t in session["turns"]] == [{}, {"model": "m"}]


def test_an_end_after_its_create_carries_its_outcome_on_the_last_turn(
    hosted: Destination,
) -> None:
    """Created in an earlier batch: the last turn sent with the end carries the outcome."""
    records = _session("k2", "FAILED")
    ids = hosted.send(records[:2])
    hosted.send(records[2:])
    session = hosted.session(ids["k2"])
    assert session["metadata"] == {}
    assert [t["metadata"] for t in session["turns"]] == [{}, {"model": "m", "status": "FAILED"}]


def test_a_users_own_status_key_is_never_overwritten(hosted: Destination) -> None:
    """With metadata.status taken, the outcome goes under sessionStatus."""
    ids = hosted.send(_session("k3", "FAILED", status="vip"))
    metadata = hosted.session(ids["k3"])["metadata"]
    assert metadata == {"status": "vip", "sessionStatus": "FAILED"}


def test_completed_sessions_and_lone_ends_carry_nothing(hosted: Destination) -> None:
    """COMPLETED is what the server shows anyway; an end alone has no record to ride on."""
    completed = hosted.send(_session("k4", "COMPLETED"))["k4"]
    records = _session("k5", "FAILED")
    lone = hosted.send(records[:3])["k5"]
    hosted.send(records[3:])
    for session_id in (completed, lone):
        session = hosted.session(session_id)
        assert "status" not in session["metadata"]
        assert all("status" not in t["metadata"] for t in session["turns"])


def test_the_hosted_server_keeps_being_told_after_its_first_answer(hosted: Destination) -> None:
    """Once an end's answer shows the status dropped, later failed sessions still carry it."""
    first = hosted.send(_session("k6", "FAILED"))["k6"]
    second = hosted.send(_session("k7", "FAILED"))["k7"]
    assert hosted.exporter._outcomes.keeps_status is False
    for session_id in (first, second):
        assert hosted.session(session_id)["metadata"] == {"status": "FAILED"}


def test_a_server_that_keeps_status_gets_metadata_as_recorded(local: Destination) -> None:
    """Against provenant serve, once an end showed FAILED kept, nothing more is carried."""
    first = local.send(_session("k8", "FAILED"))["k8"]  # sent before any answer told
    assert local.exporter._outcomes.keeps_status is True
    records = _session("k9", "CANCELLED", user="u")
    second = local.send(records)["k9"]
    session = local.session(second)
    assert (session["status"], session["metadata"]) == ("CANCELLED", {"user": "u"})
    assert [t["metadata"] for t in session["turns"]] == [{}, {"model": "m"}]
    assert local.session(first)["status"] == "FAILED"


def test_a_failed_session_recorded_through_the_spool_keeps_its_outcome_on_the_hosted_platform(
    provenant_server: LocalServer,
) -> None:
    """The whole path (session block, spool, forwarder) to the hosted double: a session
    that raised shows FAILED in its metadata, though the end route dropped it."""
    double = HostedDouble(provenant_server.url, "hosted")
    key = provenant_server.create_api_key()
    client = ProvenantClient(base_url=double.url, api_key=key)
    try:
        with (
            pytest.raises(RuntimeError),
            client.session("Spooled Bot", external_id="spooled-failure") as session,
        ):
            session.add_turn("USER", "hi")
            raise RuntimeError("the agent broke")
        assert client.flush(30)
        reader = ProvenantClient(base_url=provenant_server.url, api_key=key, enabled=False)
        (found,) = [row for row in reader.list_sessions() if row["externalId"] == "spooled-failure"]
        stored = reader.get_session(found["id"])
        reader.shutdown(timeout=5)
    finally:
        client.shutdown(timeout=5)
        double.close()
    assert stored["status"] == "COMPLETED"  # what the hosted end route leaves
    assert stored["metadata"]["status"] == "FAILED"
