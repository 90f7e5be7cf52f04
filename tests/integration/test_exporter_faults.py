"""The exporter against a failing network: a fault-injecting HTTP proxy before the real server.

The proxy answers each request according to a plan (refuse, reset, 5xx, 429, stall past
the client's timeout, lose the answer after the server wrote, restart), then forwards.
Whatever the fault, the host code never sees an exception and, once the way is clear,
every event arrives exactly once and in order.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fault_proxy import FaultProxy

from provenant.client import ProvenantClient
from provenant.server import LocalServer
from provenant.tracing._processor import _CREATE_ORDER_WAIT_S, _SPILL_DEPTH, _SPILL_STALL_S


@pytest.fixture
def proxy(provenant_server: LocalServer) -> Any:
    port = int(provenant_server.url.rsplit(":", 1)[1])
    instance = FaultProxy(port)
    yield instance
    instance.close()


def _record(client: ProvenantClient, sessions: int, turns: int, start: int = 0) -> list[str]:
    external_ids = []
    for index in range(start, start + sessions):
        with client.session("Faulty Bot") as session:
            for turn in range(turns):
                session.add_turn("USER", f"{index}:{turn}")
        external_ids.append(session.external_id)
    return external_ids


def _turn_requests_at(proxy: FaultProxy) -> list[float]:
    """When the proxy saw each turn request so far."""
    with proxy.lock:
        return [t for (line, _), t in zip(proxy.seen, proxy.seen_at) if "/turns" in line]


def _assert_exactly_once(url: str, api_key: str, external_ids: list[str], turns: int) -> None:
    reader = ProvenantClient(base_url=url, api_key=api_key)
    try:
        sessions = reader.list_sessions()
        listed = {s["externalId"]: s for s in sessions}
        assert len(sessions) == len(external_ids) and sorted(listed) == sorted(external_ids)
        for index, external_id in enumerate(external_ids):
            stored = reader.get_session(listed[external_id]["id"])
            assert [t["content"] for t in stored["turns"]] == [f"{index}:{n}" for n in range(turns)]
            assert stored["status"] == "COMPLETED"
    finally:
        reader.shutdown()


FAULT_PLANS = {
    "connection_reset": ["reset"] * 4,
    "server_error_500": ["500"] * 4,
    "unavailable_503": ["503", "502", "504", "503"],
    "rate_limited_429": ["429"] * 4,
    "stall_past_timeout": ["stall"] * 2,
    "answer_lost_after_write": ["forward", "lose_answer", "forward", "lose_answer", "lose_answer"],
}


@pytest.mark.parametrize("fault", sorted(FAULT_PLANS))
def test_faults_never_reach_the_host_and_every_event_arrives_once(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str, fault: str
) -> None:
    """Under each injected fault the host sees nothing, and every event arrives exactly once."""
    proxy.plan = list(FAULT_PLANS[fault])
    client = ProvenantClient(
        base_url=proxy.url,
        api_key=provenant_api_key,
        timeout=0.3,
        max_delivery_attempts=20,
        exporter_workers=2,
    )
    external_ids = _record(client, sessions=4, turns=5)
    delivered = client.shutdown(timeout=20)
    stats = client.stats()
    assert delivered and stats["dropped"] == {} and stats["retried"] >= 1
    assert proxy.faults_done == len(FAULT_PLANS[fault])
    _assert_exactly_once(provenant_server.url, provenant_api_key, external_ids, turns=5)


def test_refused_connections_and_a_restart_mid_run_lose_nothing(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """The server refusing connections, then restarting mid-run: all arrives once, in order."""
    client = ProvenantClient(
        base_url=proxy.url, api_key=provenant_api_key, timeout=0.3, max_delivery_attempts=30
    )
    proxy.refuse()
    first = _record(client, sessions=3, turns=4)
    time.sleep(0.3)
    assert client.stats()["delivered"] == 0
    proxy.restore()
    assert client.flush(15)
    second = _record(client, sessions=3, turns=4, start=3)
    proxy.refuse()  # a restart mid-run: connections cut, then back
    third = _record(client, sessions=3, turns=4, start=6)
    time.sleep(0.2)
    proxy.restore()
    delivered = client.shutdown(timeout=20)
    assert delivered and client.stats()["dropped"] == {}
    _assert_exactly_once(provenant_server.url, provenant_api_key, first + second + third, turns=4)


@pytest.mark.usefixtures("in_memory_queue")
def test_retries_give_up_after_the_bound_and_count_the_drop(
    proxy: FaultProxy, provenant_api_key: str
) -> None:
    """A server that keeps failing costs max_delivery_attempts tries, then a counted drop."""
    proxy.plan = ["503"] * 100
    client = ProvenantClient(
        base_url=proxy.url, api_key=provenant_api_key, timeout=0.3, max_delivery_attempts=3
    )
    with client.session("Doomed Bot") as session:
        session.add_turn("USER", "lost")
    assert session.id is None
    client.shutdown(timeout=10)
    stats = client.stats()
    assert stats["dropped"] == {"retries_exhausted": 1, "session_not_created": 2}
    assert stats["retried"] == 2 and stats["delivered"] == 0


def test_every_write_carries_one_idempotency_key_reused_on_retries(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """Each event has its own Idempotency-Key, and its retries send the same one."""
    proxy.plan = ["forward", "503", "503"]  # the session's create fails twice
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, timeout=0.3)
    external_ids = _record(client, sessions=1, turns=2)
    assert client.shutdown(timeout=10)
    writes = [(line, key) for line, key in proxy.seen if line.startswith("POST")]
    assert all(key for _, key in writes)
    creates = [key for line, key in writes if line.startswith("POST /api/sessions ")]
    assert len(creates) == 3 and len(set(creates)) == 1
    others = [key for line, key in writes if not line.startswith("POST /api/sessions ")]
    assert len(others) == len(set(others)) == 4  # get-or-create, two turns, end
    _assert_exactly_once(provenant_server.url, provenant_api_key, external_ids, turns=2)


@pytest.mark.usefixtures("in_memory_queue")
def test_one_stalled_create_delays_the_sessions_behind_it_only_once(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """While the first session's create is held, the sessions opened meanwhile go to the
    other worker, wait for it once (the bounded create-order wait), then all get their
    turns through together."""
    proxy.plan = ["forward", "hold"]  # the agent's get-or-create, then the first create
    client = ProvenantClient(
        base_url=proxy.url, api_key=provenant_api_key, timeout=10, exporter_workers=2
    )
    started = time.monotonic()
    external_ids = _record(client, sessions=1, turns=1)  # its create holds worker 0
    time.sleep(_SPILL_STALL_S * 3)
    external_ids += _record(client, sessions=5, turns=1, start=1)  # to the free worker
    deadline = started + 10
    turns_at: list[float] = []
    while len(turns_at) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
        turns_at = _turn_requests_at(proxy)
    try:
        assert len(turns_at) == 5  # the sessions behind the held create, on worker 1
        assert turns_at[-1] - started <= _CREATE_ORDER_WAIT_S + 1.0
        assert turns_at[-1] - turns_at[0] <= 1.0
    finally:
        proxy.release.set()
    assert client.shutdown(timeout=10) and client.stats()["dropped"] == {}
    _assert_exactly_once(provenant_server.url, provenant_api_key, external_ids, turns=1)


@pytest.mark.usefixtures("in_memory_queue")
def test_a_backlog_on_the_first_worker_spills_to_the_others(
    proxy: FaultProxy, provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """New sessions go to the first worker until it has a backlog; the sessions opened
    after that go to another worker and are delivered while the first is still held."""
    proxy.plan = ["forward", "hold"]  # the agent's get-or-create, then the first create
    client = ProvenantClient(
        base_url=proxy.url, api_key=provenant_api_key, timeout=10, exporter_workers=2
    )
    sessions = _SPILL_DEPTH  # three events each: far more than the first worker may hold
    external_ids = _record(client, sessions=sessions, turns=1)
    deadline = time.monotonic() + 10
    while not _turn_requests_at(proxy) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        time.sleep(0.2)  # the spilled sessions' other turns, if any, arrive too
        delivered = _turn_requests_at(proxy)
        # Some sessions went out on the free worker; those behind the held create did not.
        assert 0 < len(delivered) < sessions
        # The second worker was started for them (the first time one spilled).
        exporter = client._tracer._processor
        assert exporter is not None and exporter._lanes[1].thread is not None
    finally:
        proxy.release.set()
    assert client.shutdown(timeout=10) and client.stats()["dropped"] == {}
    _assert_exactly_once(provenant_server.url, provenant_api_key, external_ids, turns=1)
