"""Living within the API's rate limit: a proxy reproducing the hosted limiter before the
real server (fixed window, RateLimit-* headers on every answer, plain-text 429 with
Retry-After), scaled down to seconds.

Whatever the limiter does, the host never waits, nothing is dropped for a 429, and every
event arrives once, in order per session.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

import pytest
from provider_clients import anthropic_client
from rate_limit_proxy import RateLimitProxy

import provenant
from provenant import _logging
from provenant._fake_provider import FakeProvider
from provenant.client import ProvenantClient
from provenant.errors import RateLimitError
from provenant.server import LocalServer


def _proxy(server: LocalServer, **options: Any) -> RateLimitProxy:
    return RateLimitProxy(int(server.url.rsplit(":", 1)[1]), **options)


@pytest.fixture
def proxies(provenant_server: LocalServer) -> Iterator[list[RateLimitProxy]]:
    made: list[RateLimitProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def _record(client: ProvenantClient, sessions: int, turns: int) -> list[str]:
    external_ids = []
    for index in range(sessions):
        with client.session("Paced Bot") as session:
            for turn in range(turns):
                session.add_turn("USER", f"{index}:{turn}")
        external_ids.append(session.external_id)
    return external_ids


def _assert_complete_and_in_order(
    server: LocalServer, api_key: str, external_ids: list[str], turns: int
) -> None:
    reader = ProvenantClient(base_url=server.url, api_key=api_key)
    try:
        listed = {s["externalId"]: s for s in reader.list_sessions()}
        assert sorted(listed) == sorted(external_ids)
        for index, external_id in enumerate(external_ids):
            stored = reader.get_session(listed[external_id]["id"])
            assert [t["content"] for t in stored["turns"]] == [f"{index}:{n}" for n in range(turns)]
            assert stored["status"] == "COMPLETED"
    finally:
        reader.shutdown()


def _no_turn_after_its_end(proxy: RateLimitProxy) -> None:
    """No session's turn passed the limiter after that session's end."""
    ended = set()
    for seen in proxy.seen:
        target = seen.line.split(" ")[1]
        session_id = target.split("/")[3] if target.count("/") >= 4 else None
        if seen.status == 200 and target.endswith("/end"):
            ended.add(session_id)
        elif target.endswith("/turns"):
            assert session_id not in ended


def test_a_backlog_through_the_limiter_arrives_complete_without_429s(
    provenant_server: LocalServer, provenant_api_key: str, proxies: list[RateLimitProxy]
) -> None:
    """A backlog three windows long is paced under the limit: no 429 after the first
    window, every turn delivered once, in order per session."""
    proxy = _proxy(provenant_server, limit=20, window_s=2.0)
    proxies.append(proxy)
    client = ProvenantClient(
        base_url=proxy.url, api_key=provenant_api_key, max_delivery_attempts=2, exporter_workers=2
    )
    external_ids = _record(client, sessions=10, turns=3)  # 51 requests with the agent's
    assert client.shutdown(timeout=30)
    stats = client.stats()
    assert stats["dropped"] == {} and stats["delivered"] == 50
    assert [w for w in proxy.refused_by_window() if w > 0] == []
    assert max(seen.window for seen in proxy.seen) >= 2  # it took three windows: paced
    assert stats["rate_limit"]["limit"] == 20 and stats["rate_limit"]["throttled"] == 0
    _no_turn_after_its_end(proxy)
    _assert_complete_and_in_order(provenant_server, provenant_api_key, external_ids, turns=3)


def test_a_429_storm_drops_nothing_and_waits_as_told(
    provenant_server: LocalServer,
    provenant_api_key: str,
    proxies: list[RateLimitProxy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the window spent by someone else, delivery is refused, waits what Retry-After
    says, then delivers everything, however few attempts it is allowed; one warning says so."""
    _logging._reset_for_tests()
    proxy = _proxy(provenant_server, limit=6, window_s=2.0)
    proxies.append(proxy)
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, max_delivery_attempts=1)
    proxy.exhaust()
    with caplog.at_level(logging.WARNING, logger="provenant"):
        external_ids = _record(client, sessions=3, turns=2)
        assert client.shutdown(timeout=30)
    warnings = [r.getMessage() for r in caplog.records if "answered 429" in r.getMessage()]
    assert len(warnings) == 1 and "nothing is dropped" in warnings[0]
    _logging._reset_for_tests()
    stats = client.stats()
    assert stats["dropped"] == {} and stats["delivered"] == 12
    assert proxy.refused >= 1 and stats["rate_limit"]["throttled"] == proxy.refused
    # Refused only in the spent window, at most once per worker (requests already on
    # their way): after a 429 nothing was sent before its Retry-After, which ends the window.
    refused = proxy.refused_by_window()
    assert list(refused) == [0] and refused[0] <= 4
    assert all(seen.window >= 1 for seen in proxy.seen if seen.status == 200)
    _assert_complete_and_in_order(provenant_server, provenant_api_key, external_ids, turns=2)


def test_a_429_without_any_header_waits_a_while_and_drops_nothing(
    provenant_server: LocalServer, provenant_api_key: str, proxies: list[RateLimitProxy]
) -> None:
    """A 429 that says nothing about when to come back is retried after 1 s, then 2 s."""
    proxy = _proxy(provenant_server, limit=6, window_s=2.0, bare_429s=2)
    proxies.append(proxy)
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key)
    proxy.exhaust()
    external_ids = _record(client, sessions=1, turns=1)
    assert client.shutdown(timeout=30)
    assert client.stats()["dropped"] == {}
    first, second, third = proxy.seen[:3]
    assert (first.status, second.status, third.status) == (429, 429, 200)
    assert second.at - first.at >= 0.95 and third.at - second.at >= 1.95
    _assert_complete_and_in_order(provenant_server, provenant_api_key, external_ids, turns=1)


def test_shutdown_ends_the_wait_for_the_limit_and_keeps_what_is_left_spooled(
    provenant_server: LocalServer, provenant_api_key: str, proxies: list[RateLimitProxy]
) -> None:
    """Shutdown does not wait out a 60 s window; what is left stays in the spool for the
    next process (nothing dropped)."""
    proxy = _proxy(provenant_server, limit=5, window_s=60.0)
    proxies.append(proxy)
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key)
    proxy.exhaust()
    _record(client, sessions=2, turns=1)
    time.sleep(0.3)  # the first request is refused; the forwarder waits for the window
    started = time.monotonic()
    assert not client.shutdown(timeout=0.5)
    assert time.monotonic() - started < 5.0
    stats = client.stats()
    assert stats["dropped"] == {} and stats["delivered"] == 0
    assert stats["spool"]["records"] == 6  # two sessions: create, turn, end each
    assert stats["rate_limit"]["throttled"] == 1 and stats["rate_limit"]["hold_s"] > 50


@pytest.mark.usefixtures("in_memory_queue")
def test_shutdown_ends_the_wait_for_the_limit_and_counts_what_is_left(
    provenant_server: LocalServer, provenant_api_key: str, proxies: list[RateLimitProxy]
) -> None:
    """Without a spool, shutdown does not wait out a 60 s window: what is left is counted
    as `shutdown`."""
    proxy = _proxy(provenant_server, limit=5, window_s=60.0)
    proxies.append(proxy)
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key)
    proxy.exhaust()
    _record(client, sessions=2, turns=1)
    time.sleep(0.3)  # the first request is refused; the worker waits for the window
    started = time.monotonic()
    assert not client.shutdown(timeout=0.5)
    assert time.monotonic() - started < 5.0
    stats = client.stats()
    assert set(stats["dropped"]) <= {"shutdown", "session_not_created"}
    assert stats["dropped"].get("shutdown", 0) >= 1 and stats["delivered"] == 0
    assert stats["rate_limit"]["throttled"] == 1 and stats["rate_limit"]["hold_s"] > 50


def test_explicit_calls_are_paced_and_share_the_quota_with_delivery(
    provenant_server: LocalServer, provenant_api_key: str, proxies: list[RateLimitProxy]
) -> None:
    """Explicit REST calls and background delivery to one API draw on one quota: run
    together past the limit, neither earns a 429 after the first window."""
    proxy = _proxy(provenant_server, limit=12, window_s=2.0)
    proxies.append(proxy)
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key)
    client.create_agent("Paced Bot")
    external_ids = _record(client, sessions=4, turns=2)  # 17 requests
    names = [client.list_agents()[0]["name"] for _ in range(10)]
    assert client.shutdown(timeout=30) and client.stats()["dropped"] == {}
    assert names == ["Paced Bot"] * 10
    assert [w for w in proxy.refused_by_window() if w > 0] == []
    assert max(seen.window for seen in proxy.seen) >= 2
    _assert_complete_and_in_order(provenant_server, provenant_api_key, external_ids, turns=2)


def test_an_explicit_call_told_to_wait_long_raises_without_sending_again(
    provenant_server: LocalServer, provenant_api_key: str, proxies: list[RateLimitProxy]
) -> None:
    """A 429 asking for a minute raises RateLimitError; the next explicit call to the
    same API raises too, at once, without spending a request."""
    proxy = _proxy(provenant_server, limit=5, window_s=60.0)
    proxies.append(proxy)
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, enabled=False)
    proxy.exhaust()
    with pytest.raises(RateLimitError) as refused:
        client.list_agents()
    assert refused.value.retry_after is not None and refused.value.retry_after > 30
    started = time.monotonic()
    with pytest.raises(RateLimitError) as held:
        client.list_sessions()
    assert time.monotonic() - started < 1.0
    assert "was not sent" in str(held.value) and held.value.retry_after is not None
    assert len(proxy.seen) == 1
    client.shutdown()


def test_an_explicit_call_told_to_wait_briefly_waits_and_succeeds(
    provenant_server: LocalServer, provenant_api_key: str, proxies: list[RateLimitProxy]
) -> None:
    """A 429 asking for two seconds is waited out, and the call then succeeds."""
    proxy = _proxy(provenant_server, limit=5, window_s=2.0)
    proxies.append(proxy)
    client = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key, enabled=False)
    proxy.exhaust()
    assert client.list_agents() == []
    refused, answered = proxy.seen
    assert (refused.status, answered.status) == (429, 200)
    assert answered.window == refused.window + 1
    client.shutdown()


def test_without_the_headers_nothing_is_paced(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """Straight to `provenant serve`, which sends no RateLimit-* headers: nothing learnt,
    nothing held."""
    client = ProvenantClient(base_url=provenant_server.url, api_key=provenant_api_key)
    external_ids = _record(client, sessions=20, turns=5)
    assert client.shutdown(timeout=30)
    rate_limit = client.stats()["rate_limit"]
    assert rate_limit == {
        "limit": None,
        "remaining": None,
        "reset_s": None,
        "throttled": 0,
        "hold_s": 0.0,
        "seen_at": None,
    }
    _assert_complete_and_in_order(provenant_server, provenant_api_key, external_ids, turns=5)


def test_the_callers_thread_never_waits_for_the_limit(
    provenant_server: LocalServer,
    provenant_api_key: str,
    proxies: list[RateLimitProxy],
    fake_provider: FakeProvider,
) -> None:
    """While delivery waits out a spent one-minute window, instrumented calls return at
    their own pace: the wait is the worker's."""
    proxy = _proxy(provenant_server, limit=5, window_s=60.0)
    proxies.append(proxy)
    recorder = ProvenantClient(base_url=proxy.url, api_key=provenant_api_key)
    raw = anthropic_client(fake_provider)
    claude = provenant.instrument(raw, provenant=recorder, agent_id="Paced Bot")
    proxy.exhaust()
    ask = [{"role": "user", "content": "hi"}]
    claude.messages.create(model="claude-x", max_tokens=10, messages=ask)
    deadline = time.monotonic() + 5
    while recorder.stats()["rate_limit"]["throttled"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert recorder.stats()["rate_limit"]["hold_s"] > 30  # delivery is held
    started = time.monotonic()
    for _ in range(20):
        claude.messages.create(model="claude-x", max_tokens=10, messages=ask)
    elapsed = time.monotonic() - started
    recorder.shutdown(timeout=0.2)
    assert elapsed < 10.0  # twenty calls, never a minute's wait
    assert len(proxy.seen) == 1  # nothing more was sent while held
