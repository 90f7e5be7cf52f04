"""
Living within the API's rate limit: one pacer per server origin, shared by every request.

::

    pacer = pacer_for("https", "api.provenant.dev", 443)   # the same object process-wide
    ticket = pacer.acquire(stop)             # waits (interruptibly) for this request's turn
    answer = transport.handle(request)
    pacer.observe(ticket, answer.status, answer.headers)
    pacer.snapshot()                         # RateLimit(limit=200, remaining=143, ...)

The hosted API allows a number of requests per fixed window per client *address*, on
every route, and says where it stands on every answer: ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` (whole seconds until the window
resets, rounded up). Explicit REST calls and background delivery draw on the same
quota, so every :class:`~provenant.backends.http.HttpBackend` to one origin in a
process shares one :class:`Pacer`.

**Pacing.** Until an answer carries those headers, nothing waits (``provenant serve``
sends none). Once they are seen, requests go at once while more than a quarter of the
window's quota is left (:data:`_RESERVE_FRACTION`); that last quarter is spread evenly
over the time left in the window, so a few records never wait, and a backlog uses the
whole quota without running out early and earning 429s. The window's end is pinned down
from every answer (``Reset`` is rounded up, so each answer's arrival plus its ``Reset``
is a bound no earlier than the real end; the smallest bound seen wins), and the quota
from the newest answer less the requests sent after it. When the quota is spent, the
next request waits for the window's end; a new window is assumed to hold the last
``RateLimit-Limit`` until its first answer says.

**Told to wait.** A ``429``, or any error answer with ``Retry-After``, holds every
request to the origin for as long as it says (at most :data:`_MAX_HOLD_S`); a ``429``
without ``Retry-After`` waits for its ``RateLimit-Reset``, and one with neither waits
1 s, then 2, 4, ... up to 60 s while they keep coming. Waits happen in
:meth:`Pacer.acquire`, on the thread that sends: the background worker, or the caller
of an explicit REST method; never the thread of an instrumented call, which sends
nothing.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from typing import NamedTuple, Optional, Tuple

from provenant._logging import log_fault
from provenant.backends._transport import Headers
from provenant.errors import parse_retry_after

__all__ = ["PaceInterrupted", "PaceTooLong", "Pacer", "RateLimit", "Ticket", "pacer_for"]

#: After the window's estimated end, this much more before its quota is assumed renewed.
_ROLLOVER_MARGIN_S = 0.05
#: An answer whose bound lies this far past the current end belongs to a new window
#: (one answer's bound can exceed the real end by under a second plus its latency).
_NEW_WINDOW_SLACK_S = 1.5
#: The share of a window's quota held back and spread over the time left in it; the rest
#: goes at once. A few records (a short-lived process's) never wait, a backlog still
#: stays under the limit, and other senders from the address keep some room.
_RESERVE_FRACTION = 0.25
#: The longest wait a ``Retry-After`` can impose (a larger value is taken as this).
_MAX_HOLD_S = 900.0
#: A 429 that says nothing about when to come back: the first wait, doubling up to the cap.
_BARE_429_FIRST_S = 1.0
_BARE_429_CAP_S = 60.0
#: A ``RateLimit-Reset`` beyond this is no delta in seconds (some APIs send a Unix time
#: there): such headers are not paced by.
_MAX_RESET_S = 86400
#: A waiting thread looks again at least this often (an answer may have moved its turn).
_RECHECK_S = 0.5

#: One request's place: its number in send order and when it was let go (monotonic).
Ticket = Tuple[int, float]


class RateLimit(NamedTuple):
    """
    What the API last said about its rate limit, and what it cost us.

    ``limit``, ``remaining`` and ``reset_s`` are ``None`` until an answer carried the
    ``RateLimit-*`` headers (never, against a server without a limit).
    """

    #: Requests allowed per window (``RateLimit-Limit``).
    limit: Optional[int]
    #: Requests left in the current window, by the newest answer less what was sent since.
    remaining: Optional[int]
    #: Seconds until the current window ends (estimated from every ``RateLimit-Reset``).
    reset_s: Optional[float]
    #: ``429`` answers received so far.
    throttled: int
    #: Seconds every request still waits because the API said so (a 429's Retry-After).
    hold_s: float
    #: ``time.time()`` of the last answer that carried the headers.
    seen_at: Optional[float]


class PaceInterrupted(Exception):
    """A wait for the rate limit was ended by :meth:`Pacer.acquire`'s ``stop`` event."""


class PaceTooLong(Exception):
    """The request's turn is further away than the caller agreed to wait."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"{wait_s:.1f} s")
        self.wait_s = wait_s


class Pacer:
    """
    Spaces the requests to one origin by the rate limit its answers announce.

    Thread-safe; :meth:`acquire` waits outside the lock. A forked child keeps what the
    parent had learnt (the quota is the address's) with a fresh lock.
    """

    def __init__(self, origin: str = "the API") -> None:
        self._origin = origin
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._paced = False  # an answer carried the headers, and pacing is on
        self._limit: Optional[int] = None
        self._budget = 0  # requests we may still send in this window
        self._window_end = 0.0  # monotonic; an upper bound of the real end
        self._window_s = 0.0  # the longest Reset seen: the window's length
        self._window_start = -math.inf  # sends before it belong to an older window
        self._assumed = False  # the window was rolled over by us, no answer from it yet
        self._last_send = -math.inf
        self._applied = 0  # the newest ticket whose answer set the budget
        self._issued = 0
        self._hold_until = 0.0
        self._bare_429s = 0  # consecutive 429s that said nothing about when to retry
        self._throttled = 0
        self._seen_at: Optional[float] = None

    # -- sending ------------------------------------------------------------------------

    def acquire(self, stop: threading.Event, max_wait_s: Optional[float] = None) -> Ticket:
        """
        Wait for the next request's turn and take it.

        Args:
            stop: Ends the wait (shutdown, a closed backend).
            max_wait_s: The longest the caller will wait; ``None``: as long as it takes.

        Returns:
            The request's ticket, for :meth:`observe`.

        Raises:
            PaceInterrupted: ``stop`` was set while waiting.
            PaceTooLong: The turn is further away than ``max_wait_s``.
        """
        if self._pid != os.getpid():
            self._after_fork()
        deadline = None if max_wait_s is None else time.monotonic() + max_wait_s
        while True:
            with self._lock:
                now = time.monotonic()
                ready = self._ready_at(now)
                if ready <= now:
                    return self._take(now)
            if deadline is not None and ready > deadline:
                raise PaceTooLong(ready - now)
            if stop.wait(min(ready - now, _RECHECK_S)):
                raise PaceInterrupted()

    def _ready_at(self, now: float) -> float:
        """When the next request may go (under the lock); rolls a spent window over."""
        ready = self._hold_until
        if not self._paced:
            return ready
        if now >= self._window_end + _ROLLOVER_MARGIN_S and now >= ready:
            # The window is over: assume a fresh quota until an answer of the new one says.
            self._budget = self._limit or 1
            self._window_start = now
            self._window_end = now + self._window_s
            self._assumed = True
            self._last_send = -math.inf
            return ready
        if self._budget <= 0:
            return max(ready, self._window_end + _ROLLOVER_MARGIN_S)
        if self._last_send == -math.inf or self._budget > self._reserve():
            return ready
        left = max(0.0, self._window_end - self._last_send)
        return max(ready, self._last_send + left / (self._budget + 1))

    def _reserve(self) -> int:
        """The last requests of a window that are spread over its time left; those before
        them go at once (a short-lived process's few records wait for nothing)."""
        return max(1, math.ceil((self._limit or 1) * _RESERVE_FRACTION))

    def _take(self, now: float) -> Ticket:
        self._issued += 1
        self._last_send = now
        if self._paced:
            self._budget -= 1
        return (self._issued, now)

    # -- answers ------------------------------------------------------------------------

    def observe(self, ticket: Ticket, status: int, headers: Headers) -> None:
        """
        Learn from one answer: its ``RateLimit-*`` headers, and a ``429``/``Retry-After``.

        Args:
            ticket: What :meth:`acquire` gave the request.
            status: The answer's HTTP status.
            headers: The answer's headers.
        """
        if self._pid != os.getpid():
            self._after_fork()
        received = time.monotonic()
        remaining = _whole(headers.get("ratelimit-remaining"))
        if remaining is None and status < 400 and not self._paced:
            return  # no limit announced, none learnt: the common case of a local server
        limit = _whole(headers.get("ratelimit-limit"))
        reset = _whole(headers.get("ratelimit-reset"))
        if reset is not None and reset > _MAX_RESET_S:
            reset = None
        retry_after = parse_retry_after(headers.get("retry-after")) if status >= 400 else None
        with self._lock:
            if limit is not None and remaining is not None and reset is not None:
                self._learn(ticket, received, limit, remaining, reset)
            elif 200 <= status < 300:
                self._paced = False  # a server that answers without them has no limit
            if status == 429:
                self._throttled += 1
                if retry_after is None and reset is not None:
                    retry_after = float(reset)
                if retry_after is None:
                    retry_after = min(_BARE_429_CAP_S, _BARE_429_FIRST_S * 2.0**self._bare_429s)
                    self._bare_429s += 1
                else:
                    self._bare_429s = 0
            elif status < 400:
                self._bare_429s = 0
            if retry_after is not None:
                until = received + min(retry_after, _MAX_HOLD_S)
                self._hold_until = max(self._hold_until, until)
                if status == 429 and self._paced:
                    # The quota is spent; the server said when it is back: the window
                    # ends then, whatever its Reset said.
                    self._budget = 0
                    self._window_end = until
        if status == 429:  # one line a minute, whoever sent (logged outside the lock)
            log_fault(
                "rate-limited",
                f"{self._origin} answered 429 (rate limited); requests to it wait "
                f"{retry_after or 0:.0f} s as it says, and nothing is dropped for it",
            )

    def _learn(
        self, ticket: Ticket, received: float, limit: int, remaining: int, reset: int
    ) -> None:
        """Fold one answer's headers into the window's end and quota (under the lock)."""
        number, sent_at = ticket
        bound = received + reset
        self._seen_at = time.time()
        self._limit = limit
        self._window_s = max(self._window_s, float(reset))
        budget = remaining - max(0, self._issued - number)  # less those sent after it
        if not self._paced:
            self._paced = True
            self._window_end, self._budget, self._applied = bound, budget, number
            self._window_start, self._assumed = sent_at, False
            return
        if sent_at < self._window_start:
            return  # an answer from a window already over
        if self._assumed or bound > self._window_end + _NEW_WINDOW_SLACK_S:
            # The first answer of a new window (ours, or one the server began on its own).
            self._window_end, self._budget, self._applied = bound, budget, number
            self._window_start, self._assumed = sent_at, False
            return
        self._window_end = min(self._window_end, bound)
        if number > self._applied:
            self._budget, self._applied = budget, number

    # -- reading ------------------------------------------------------------------------

    def snapshot(self) -> RateLimit:
        """What the API last said about the limit, and the 429s it cost (a frozen copy)."""
        with self._lock:
            now = time.monotonic()
            hold_s = max(0.0, self._hold_until - now)
            if self._limit is None:
                return RateLimit(None, None, None, self._throttled, hold_s, None)
            return RateLimit(
                self._limit,
                max(0, self._budget),
                max(0.0, self._window_end - now),
                self._throttled,
                hold_s,
                self._seen_at,
            )

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may have been held at the fork)."""
        self._lock = threading.Lock()
        self._pid = os.getpid()


def _whole(value: Optional[str]) -> Optional[int]:
    """A header's whole non-negative number, or ``None`` when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit():
        return None
    return int(text)


_pacers: weakref.WeakValueDictionary[Tuple[str, str, int], Pacer]
_pacers = weakref.WeakValueDictionary()
_pacers_lock = threading.Lock()


def pacer_for(scheme: str, host: str, port: int) -> Pacer:
    """
    The pacer of one origin: every backend to it in this process shares it (the limit
    is per client address), as long as one of them is alive.
    """
    key = (scheme, host.lower(), port)
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = Pacer(f"{scheme}://{host}:{port}")
        return pacer


def _fresh_lock_in_child() -> None:
    global _pacers_lock
    _pacers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)
