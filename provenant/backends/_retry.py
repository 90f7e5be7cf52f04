"""
The one retry policy: what is worth another attempt, and how long to wait before it.

::

    policy = EXPLICIT_CALLS                      # or BACKGROUND_DELIVERY
    if policy.retries_status(status):
        wait_s = policy.wait_s(attempt, retry_after_s)   # None: give up now

Every caller that repeats a request asks this module: :class:`~provenant.backends.http.
HttpBackend` for explicit calls, the background exporter for recorded events, and the
spool's forwarder between its rounds of tries (``SPOOL_FORWARDING``).

**Retryable.** No answer at all (a refused or broken connection, a timeout), ``429``
(honouring ``Retry-After``) and the gateway statuses ``502``/``503``/``504``.

**A plain 500.** Retried by background delivery, never for an explicit call. The hosted
platform answers ``500`` both for real faults and for refusals it documents as 4xx
elsewhere (an unknown agent version, an unknown session on end, malformed JSON; see
``shared/provenant-api.md``). An explicit call is answered at once, so its caller can
act on a refusal without waiting through attempts that cannot succeed. A recorded event
has no caller to act: a bounded number of attempts, on a background thread, costs only
time there, while giving up at the first ``500`` would lose events to a passing fault;
a refusal ends, after the last attempt, as a counted drop (``retries_exhausted``).

**Backoff.** Exponential from ``base_s``, capped at ``cap_s``, with full jitter (a
uniform draw between 0 and the ceiling) so that clients failed together do not retry
together. A ``Retry-After`` the server sent replaces the draw; one longer than
``retry_after_limit_s`` makes an explicit call give up (its caller should not sleep an
hour), and makes delivery wait the limit instead.

**A 429.** The wait itself is the origin's pacer's (:mod:`provenant.backends._pacing`):
it holds every request to that API as long as the answer said, so an explicit call asks
this policy only whether to try again, and background delivery sends the event again
after the hold without counting an attempt (a 429 is never a reason to drop).
"""

from __future__ import annotations

import random
from typing import Optional

__all__ = ["BACKGROUND_DELIVERY", "EXPLICIT_CALLS", "SPOOL_FORWARDING", "RetryPolicy"]

_GATEWAY_STATUSES = frozenset({502, 503, 504})


class RetryPolicy:
    """
    When to repeat a request, and the wait before each new attempt.

    Args:
        base_s: The ceiling of the first wait; each later one doubles.
        cap_s: The largest ceiling.
        retry_500: Whether a plain ``500`` is worth another attempt.
        retry_after_limit_s: The longest ``Retry-After`` honoured.
        give_up_beyond_limit: A longer ``Retry-After`` gives up (True) or waits the
            limit (False).
    """

    __slots__ = ("base_s", "cap_s", "give_up_beyond_limit", "retry_500", "retry_after_limit_s")

    def __init__(
        self,
        *,
        base_s: float,
        cap_s: float,
        retry_500: bool,
        retry_after_limit_s: float,
        give_up_beyond_limit: bool,
    ) -> None:
        self.base_s = max(0.0, float(base_s))
        self.cap_s = cap_s
        self.retry_500 = retry_500
        self.retry_after_limit_s = retry_after_limit_s
        self.give_up_beyond_limit = give_up_beyond_limit

    def with_base(self, base_s: float) -> RetryPolicy:
        """The same policy with another first ceiling (``HttpBackend(backoff_s=)``)."""
        return RetryPolicy(
            base_s=base_s,
            cap_s=self.cap_s,
            retry_500=self.retry_500,
            retry_after_limit_s=self.retry_after_limit_s,
            give_up_beyond_limit=self.give_up_beyond_limit,
        )

    def retries_status(self, status: int) -> bool:
        """Whether an answer with this status is worth another attempt."""
        return status == 429 or status in _GATEWAY_STATUSES or (status == 500 and self.retry_500)

    def wait_s(self, retry: int, retry_after_s: Optional[float] = None) -> Optional[float]:
        """
        Seconds to wait before retry number ``retry`` (0 for the first), or ``None`` to
        give up now.

        Args:
            retry: How many retries came before this one.
            retry_after_s: The server's ``Retry-After``, when it sent one.
        """
        if retry_after_s is not None:
            if retry_after_s <= self.retry_after_limit_s:
                return max(0.0, retry_after_s)
            return None if self.give_up_beyond_limit else self.retry_after_limit_s
        ceiling = min(self.cap_s, self.base_s * (2.0**retry))
        return random.uniform(0.0, ceiling)


#: Explicit REST calls: answer the caller soon; a 500 is its to see at once.
EXPLICIT_CALLS = RetryPolicy(
    base_s=0.25, cap_s=8.0, retry_500=False, retry_after_limit_s=30.0, give_up_beyond_limit=True
)

#: Recorded events on the background worker: nobody waits, so try harder.
BACKGROUND_DELIVERY = RetryPolicy(
    base_s=0.1, cap_s=5.0, retry_500=True, retry_after_limit_s=60.0, give_up_beyond_limit=False
)

#: The spool's forwarder, between rounds of a record's tries: the record is safe on disk
#: and is never given up while the process lives, so it backs off further, up to 30 s.
SPOOL_FORWARDING = RetryPolicy(
    base_s=0.5, cap_s=30.0, retry_500=True, retry_after_limit_s=900.0, give_up_beyond_limit=False
)
