"""The pacer: spacing by the RateLimit-* headers, waits a 429 asks for, and none without them."""

from __future__ import annotations

import threading
import time
from typing import Optional

import pytest

from provenant.backends._pacing import (
    PaceInterrupted,
    Pacer,
    PaceTooLong,
    Ticket,
    pacer_for,
)


class _Headers(dict):  # type: ignore[type-arg]
    """Answer headers looked up by lower-case name, as the transport's are."""

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:  # type: ignore[override]
        return super().get(name.lower(), default)


def _limited(limit: int, remaining: int, reset: int, **more: str) -> _Headers:
    headers = _Headers(
        {
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(reset),
        }
    )
    headers.update({name.lower().replace("_", "-"): value for name, value in more.items()})
    return headers


NEVER = threading.Event()


def _wait_s(pacer: Pacer) -> float:
    """How long the next request would wait (0.0 when it may go now; it then takes its turn)."""
    try:
        pacer.acquire(NEVER, max_wait_s=0.0)
    except PaceTooLong as exc:
        return exc.wait_s
    return 0.0


def test_without_the_headers_no_request_ever_waits() -> None:
    """Against a server that sends no RateLimit-* headers, nothing is paced."""
    pacer = Pacer()
    for _ in range(2000):
        ticket = pacer.acquire(NEVER, max_wait_s=0.0)
        pacer.observe(ticket, 201, _Headers())
    snapshot = pacer.snapshot()
    assert snapshot.limit is None and snapshot.remaining is None and snapshot.reset_s is None
    assert snapshot.throttled == 0 and snapshot.hold_s == 0.0


def test_the_last_quarter_of_the_quota_is_spread_over_the_time_left() -> None:
    """50 left of 200 in a 10 s window: the next request goes about 10/50 s after the last."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(200, 51, 10))
    pacer.acquire(NEVER)  # the first after the answer goes at once
    wait = _wait_s(pacer)
    assert 0.18 <= wait <= 10 / 50
    snapshot = pacer.snapshot()
    assert (snapshot.limit, snapshot.remaining) == (200, 50)
    assert snapshot.reset_s is not None and 9.0 < snapshot.reset_s <= 10.0


def test_while_much_of_the_quota_is_left_requests_go_at_once() -> None:
    """A few records of a short-lived process never wait: with 199 of 200 left, the next
    149 go at once, until a quarter is left;
    then the rest is spaced."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(200, 199, 60))
    for _ in range(149):
        assert _wait_s(pacer) == 0.0
    assert pacer.snapshot().remaining == 50
    assert 1.0 < _wait_s(pacer) <= 60 / 50


def test_a_spent_quota_waits_for_the_window_to_end() -> None:
    """With nothing left, the next request waits until the window resets."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(5, 0, 3))
    assert 2.9 <= _wait_s(pacer) <= 3.1


def test_requests_sent_after_an_answer_count_against_its_remaining() -> None:
    """An answer's remaining quota is less the requests sent after its own."""
    pacer = Pacer()
    first = pacer.acquire(NEVER)
    pacer.acquire(NEVER)
    pacer.acquire(NEVER)
    pacer.observe(first, 201, _limited(100, 10, 30))
    assert pacer.snapshot().remaining == 8


def test_the_window_end_is_the_earliest_bound_any_answer_gives() -> None:
    """Reset is rounded up: the smallest arrival-plus-Reset seen pins the window's end."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(100, 99, 10))
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(100, 98, 9))
    reset_s = pacer.snapshot().reset_s
    assert reset_s is not None and 8.5 < reset_s <= 9.0


def test_a_429_holds_every_request_as_long_as_retry_after_says() -> None:
    """A 429 with Retry-After: 7 holds the origin for 7 s and is counted."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 429, _limited(200, 0, 60, retry_after="7"))
    assert 6.9 <= _wait_s(pacer) <= 7.1
    snapshot = pacer.snapshot()
    assert snapshot.throttled == 1 and 6.9 <= snapshot.hold_s <= 7.0


def test_a_429_without_retry_after_waits_for_its_reset() -> None:
    """A 429 carrying RateLimit-Reset but no Retry-After waits for the reset."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 429, _limited(200, 0, 4))
    assert 3.9 <= _wait_s(pacer) <= 4.1


def test_a_429_that_says_nothing_waits_a_doubling_while() -> None:
    """A bare 429 waits 1 s, the next one 2 s; an answer that passes starts over."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 429, _Headers())
    assert 0.9 <= _wait_s(pacer) <= 1.0
    pacer.observe(ticket, 429, _Headers())
    assert 1.9 <= _wait_s(pacer) <= 2.0
    assert pacer.snapshot().throttled == 2


def test_retry_after_on_another_error_holds_too() -> None:
    """A 503 with Retry-After holds the origin, without counting a 429."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 503, _Headers({"retry-after": "2"}))
    assert 1.9 <= _wait_s(pacer) <= 2.0
    assert pacer.snapshot().throttled == 0


def test_a_wait_ends_when_stop_is_set() -> None:
    """A thread waiting out a long hold raises PaceInterrupted as soon as stop is set."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 429, _Headers({"retry-after": "60"}))
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    with pytest.raises(PaceInterrupted):
        pacer.acquire(stop)
    assert time.monotonic() - started < 2.0


def test_a_success_without_the_headers_turns_pacing_off() -> None:
    """A server that stops sending the headers is no longer paced."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(5, 0, 30))
    assert _wait_s(pacer) > 1.0
    pacer.observe(ticket, 200, _Headers())
    assert _wait_s(pacer) == 0.0


def test_a_spent_window_rolls_over_to_a_fresh_quota() -> None:
    """Once the window's end passes, requests go again, spaced by the window's length."""
    pacer = Pacer()
    ticket: Ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(4, 0, 0))  # the window ends now
    time.sleep(0.06)
    assert _wait_s(pacer) == 0.0  # a new window: its first request goes at once


def test_a_reset_given_as_a_unix_time_is_not_paced_by() -> None:
    """RateLimit-Reset counts seconds; a Unix time there would stall delivery for years."""
    pacer = Pacer()
    ticket = pacer.acquire(NEVER)
    pacer.observe(ticket, 201, _limited(100, 99, int(time.time()) + 60))
    assert _wait_s(pacer) == 0.0 and pacer.snapshot().limit is None


def test_backends_to_one_origin_share_one_pacer() -> None:
    """The limit is per client address: one pacer per origin in a process."""
    first = pacer_for("https", "API.example.com", 443)
    assert pacer_for("https", "api.example.com", 443) is first
    assert pacer_for("https", "api.example.com", 8443) is not first
