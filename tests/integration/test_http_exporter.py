"""The REST API's exporter against the real local server: the contract's requests, in order."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

from provenant._wire import decode_record
from provenant.backends._agents import AgentDirectory
from provenant.backends._http_exporter import HttpExporter
from provenant.backends._records import SessionEnd, SessionStart, TurnRecord
from provenant.backends._store_exporter import StoreExporter
from provenant.backends.http import HttpBackend
from provenant.backends.local import LocalBackend
from provenant.server import LocalServer

_VOLATILE = {"id", "sessionId", "agentId", "createdAt", "updatedAt", "startedAt", "endedAt"}
_VOLATILE |= {"orgId"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _records() -> list[Any]:
    return [
        SessionStart("k", agent="Both Bot", external_id="conv", metadata={"a": 1}, tags=["t"]),
        TurnRecord("k", role="USER", content="hi"),
        TurnRecord(
            "k",
            role="ASSISTANT",
            content="hello",
            tool_calls=[{"id": "1", "name": "f", "input": {}}],
            input_tokens=2,
            output_tokens=3,
            latency_ms=4,
            metadata={"model": "m"},
        ),
        SessionEnd("k", status="COMPLETED", total_tokens=5, total_latency_ms=4),
    ]


def _keys() -> Any:
    counter = itertools.count()
    return lambda: str(uuid.UUID(int=next(counter) + 1, version=4))


def test_http_and_store_exporters_write_the_same_session(
    provenant_server: LocalServer, provenant_api_key: str, tmp_path: Path
) -> None:
    """The same records give the same session over HTTP as in the embedded store."""
    backend = HttpBackend(provenant_server.url, api_key=provenant_api_key)
    http = HttpExporter(backend, AgentDirectory(), max_attempts=3, key_prefix=None, new_key=_keys())
    over_http = http.export(_records())
    assert over_http.outcomes == [None] * 4
    remote = decode_record(backend.request("GET", f"/api/sessions/{over_http.session_ids['k']}"))
    http.shutdown()

    store = StoreExporter(str(tmp_path / "s.db"), AgentDirectory())
    in_store = store.export(_records())
    store.shutdown()
    local = LocalBackend(str(tmp_path / "s.db"))
    stored = decode_record(local.request("GET", f"/api/sessions/{in_store.session_ids['k']}"))
    local.close()
    assert _stable(remote) == _stable(stored)
    assert [t["role"] for t in remote["turns"]] == ["USER", "ASSISTANT"]


def test_records_of_an_unknown_session_are_dropped_with_a_reason(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """A turn whose session was never created is dropped as session_not_created; a refused
    turn as rejected_422; the rest of the batch is delivered."""
    backend = HttpBackend(provenant_server.url, api_key=provenant_api_key)
    http = HttpExporter(backend, AgentDirectory(), max_attempts=3, key_prefix=None, new_key=_keys())
    start, user, _, end = _records()
    result = http.export(
        [
            TurnRecord("nope", role="USER", content="x"),
            start,
            user,
            TurnRecord("k", role="BAD", content=1),
            end,
        ]
    )
    http.shutdown()
    assert result.outcomes == ["session_not_created", None, None, "rejected_422", None]


def test_a_turn_after_its_sessions_end_in_one_batch_is_delivered(
    provenant_server: LocalServer, provenant_api_key: str, tmp_path: Path
) -> None:
    """A late turn (enqueued after its session's end, a callback's) that shares a batch
    with the create and the end still finds its session, over HTTP as in the store."""
    start, user, _, end = _records()
    batch = [start, end, user]
    backend = HttpBackend(provenant_server.url, api_key=provenant_api_key)
    http = HttpExporter(backend, AgentDirectory(), max_attempts=3, key_prefix=None, new_key=_keys())
    over_http = http.export(batch)
    remote = decode_record(backend.request("GET", f"/api/sessions/{over_http.session_ids['k']}"))
    http.shutdown()
    store = StoreExporter(str(tmp_path / "s.db"), AgentDirectory())
    in_store = store.export(batch)
    store.shutdown()
    assert over_http.outcomes == [None] * 3
    assert in_store.outcomes == [None] * 3
    assert [t["content"] for t in remote["turns"]] == ["hi"]
