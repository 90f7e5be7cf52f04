"""The embedded store's exporter: a batch in one transaction, the REST routes' rows and refusals."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from provenant._wire import decode_record
from provenant.backends._agents import AgentDirectory
from provenant.backends._records import SessionEnd, SessionStart, TurnRecord
from provenant.backends._store_exporter import StoreExporter
from provenant.backends.local import LocalBackend

_VOLATILE = {"id", "sessionId", "agentId", "createdAt", "updatedAt", "startedAt", "endedAt"}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture
def exporter(db: str) -> Iterator[StoreExporter]:
    instance = StoreExporter(db, AgentDirectory())
    yield instance
    instance.shutdown()


@pytest.fixture
def backend(db: str) -> Iterator[LocalBackend]:
    instance = LocalBackend(db)
    yield instance
    instance.close()


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _session(backend: LocalBackend, session_id: str) -> Any:
    return decode_record(backend.request("GET", f"/api/sessions/{session_id}"))


def _records(key: str, external_id: str) -> list[Any]:
    return [
        SessionStart(
            key,
            agent="Batch Bot",
            external_id=external_id,
            user_id="u-1",
            metadata={"team": "x", "nested": {"a": [1, 2]}},
            tags=["t1"],
        ),
        TurnRecord(key, role="USER", content="hi ✓"),
        TurnRecord(
            key,
            role="ASSISTANT",
            content={"parts": ["a", 1]},
            tool_calls=[{"id": "c1", "name": "lookup", "input": {"q": 1}}],
            latency_ms=12,
            input_tokens=3,
            output_tokens=5,
            metadata={"model": "m"},
        ),
        SessionEnd(key, status="FAILED", total_tokens=8, total_latency_ms=12),
    ]


def test_a_batch_writes_the_same_rows_as_the_rest_routes(
    exporter: StoreExporter, backend: LocalBackend
) -> None:
    """Records written as a batch read back exactly as the same writes made over the REST routes."""
    result = exporter.export(_records("k1", "conv-batch"))
    assert result.outcomes == [None] * 4
    batched = _session(backend, result.session_ids["k1"])

    agent = backend.request("POST", "/api/agents/get-or-create", body={"name": "Batch Bot"})
    start, user, assistant, end = _records("k2", "conv-rest")
    from provenant.backends._records import wire_body

    created = backend.request("POST", "/api/sessions", body=wire_body(start, agent["id"]))
    for turn in (user, assistant):
        backend.request("POST", f"/api/sessions/{created['id']}/turns", body=wire_body(turn))
    backend.request("POST", f"/api/sessions/{created['id']}/end", body=wire_body(end))
    rest = _session(backend, created["id"])

    assert batched["agentId"] == agent["id"]
    assert batched["externalId"] == "conv-batch" and rest["externalId"] == "conv-rest"
    batched["externalId"] = rest["externalId"]
    assert _stable(batched) == _stable(rest)
    assert batched["status"] == "FAILED" and batched["totalTokens"] == 8


def test_turns_written_by_a_batch_have_distinct_uuid4_ids(
    exporter: StoreExporter, backend: LocalBackend
) -> None:
    """Each turn a batch writes gets its own random version-4 UUID, as the route gives."""
    records = [record for n in range(20) for record in _records(f"k{n}", f"conv-{n}")]
    result = exporter.export(records)
    ids = [
        turn["id"]
        for key in result.session_ids.values()
        for turn in _session(backend, key)["turns"]
    ]
    assert len(ids) == len(set(ids)) == 40
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_batch_is_one_transaction(exporter: StoreExporter) -> None:
    """Three sessions of 4 records each are committed by one write of the store."""
    exporter.export(_records("warm", "warm"))  # opens the store, resolves the agent
    store = exporter._store
    assert store is not None
    before = store.version
    records = _records("a", "a") + _records("b", "b") + _records("c", "c")
    result = exporter.export(records)
    assert result.outcomes == [None] * 12
    assert store.version == before + 1


def test_a_refused_record_is_dropped_alone(exporter: StoreExporter, backend: LocalBackend) -> None:
    """A turn the routes refuse is dropped with its status; the others of the batch are written."""
    start, user, assistant, end = _records("k", "conv")
    bad = TurnRecord("k", role="ROBOT", content="?")
    orphan = TurnRecord("never-started", role="USER", content="lost")
    result = exporter.export([start, user, bad, orphan, assistant, end])
    assert result.outcomes == [None, None, "rejected_422", "session_not_created", None, None]
    stored = _session(backend, result.session_ids["k"])
    assert [t["role"] for t in stored["turns"]] == ["USER", "ASSISTANT"]


def test_a_turn_whose_text_utf8_cannot_carry_is_refused_alone(
    exporter: StoreExporter, backend: LocalBackend
) -> None:
    """Turns written together: one with a lone surrogate is refused (400), the turns
    before and after it are written, in order."""
    start, user, assistant, end = _records("k", "conv")
    bad = TurnRecord("k", role="USER", content="broken \ud800 text")
    more = [TurnRecord("k", role="USER", content=f"turn {n}") for n in range(70)]
    result = exporter.export([start, user, bad, assistant, *more, end])
    assert result.outcomes == [None, None, "rejected_400", None, *[None] * 70, None]
    stored = _session(backend, result.session_ids["k"])
    assert [t["content"] for t in stored["turns"]][2:] == [f"turn {n}" for n in range(70)]
    assert [t["role"] for t in stored["turns"]][:2] == ["USER", "ASSISTANT"]
    assert len(stored["turns"]) == 72


def test_turns_of_a_session_created_by_an_earlier_batch(
    exporter: StoreExporter, backend: LocalBackend
) -> None:
    """A session's turns and end may come in later batches than its create."""
    start, user, assistant, end = _records("k", "conv")
    first = exporter.export([start, user])
    assert exporter.export([assistant]).outcomes == [None]
    assert exporter.export([end]).outcomes == [None]
    stored = _session(backend, first.session_ids["k"])
    assert len(stored["turns"]) == 2 and stored["status"] == "FAILED"


def test_a_child_session_names_its_parent_created_in_the_same_batch(
    exporter: StoreExporter, backend: LocalBackend
) -> None:
    """A nested session's metadata carries its parent's id even when both start in one batch."""
    parent = SessionStart("p", agent="Batch Bot", external_id="parent")
    child = SessionStart(
        "c",
        agent="Batch Bot",
        external_id="child",
        metadata={"parentSessionExternalId": "parent"},
        parent_key="p",
    )
    result = exporter.export([parent, child, SessionEnd("c", status="COMPLETED")])
    assert result.outcomes == [None, None, None]
    stored = _session(backend, result.session_ids["c"])
    assert stored["metadata"] == {
        "parentSessionExternalId": "parent",
        "parentSessionId": result.session_ids["p"],
    }


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_writes_through_its_own_connections(
    exporter: StoreExporter, backend: LocalBackend
) -> None:
    """After fork, the child's batches are written with connections of its own; both work."""
    assert exporter.export(_records("before", "before")).outcomes == [None] * 4
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        status = 1
        try:
            if exporter.export(_records("child", "child")).outcomes == [None] * 4:
                status = 0
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert exporter.export(_records("after", "after")).outcomes == [None] * 4
    listed = backend.request("GET", "/api/sessions")
    assert sorted(s["externalId"] for s in listed) == ["after", "before", "child"]
