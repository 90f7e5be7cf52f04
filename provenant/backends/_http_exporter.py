"""
The REST API's exporter: the contract's requests, in the batch's order.

::

    exporter = HttpExporter(backend, AgentDirectory(), max_attempts=8, key_prefix="0123abcd")
    result = exporter.export(records)   # POST /api/sessions, .../turns, .../end in order

The contract has no batch route, so each record is one request, sent after the one
before it answered: a session's create, turns and end arrive in the order recorded.
Each record carries one ``Idempotency-Key``, reused on its retries, so an answer lost in
a restart never duplicates a row. Failures are retried as
:data:`provenant.backends._retry.BACKGROUND_DELIVERY` says, up to ``max_attempts``
tries; a refused API key is logged once and drops what follows (``unauthorized``).
A ``429`` is no failure: the backend's pacer (:mod:`provenant.backends._pacing`) holds
the next attempt as long as the API said, and the record is tried again, however many
429s it takes, until it is delivered or shutdown interrupts the wait (``shutdown``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

from provenant._logging import log_fault, logger
from provenant.backends._agents import AgentDirectory
from provenant.backends._base import Backend
from provenant.backends._outcome import OutcomeCarrier, with_outcome
from provenant.backends._records import (
    ExportResult,
    Record,
    SessionEnd,
    SessionStart,
    wire_body,
)
from provenant.backends._retry import BACKGROUND_DELIVERY
from provenant.errors import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = ["Dropped", "HttpExporter"]

#: A 429 from a backend without a pacer, and no Retry-After: wait this (at most 60 times it).
_BARE_429_WAIT_S = 1.0


class Dropped(Exception):
    """A record cannot be delivered; ``reason`` names why (a stats key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HttpExporter:
    """
    :class:`~provenant.backends._records.Exporter` to a Provenant REST API.

    Args:
        backend: Sends each request (``retries=0``: this exporter retries itself).
        agents: The agent directory shared with the client.
        max_attempts: Tries per record before it is dropped (``retries_exhausted``).
        key_prefix: The API key's prefix, for the one log line of a refused key.
        destination: How log lines name the destination (its URL).
        stop: Set on shutdown: a wait between attempts ends, dropping (``shutdown``).
        new_key: Makes each record's ``Idempotency-Key``.
    """

    def __init__(
        self,
        backend: Backend,
        agents: AgentDirectory,
        *,
        max_attempts: int,
        key_prefix: Optional[str],
        new_key: Callable[[], str],
        destination: str = "the API",
        stop: Optional[threading.Event] = None,
    ) -> None:
        self._backend = backend
        self._agents = agents
        self._max_attempts = max(1, max_attempts)
        self._key_prefix = key_prefix
        self._destination = destination
        self._new_key = new_key
        self._stop = stop if stop is not None else threading.Event()
        self._session_ids: Dict[str, str] = {}
        self._auth_logged = False
        # FAILED/CANCELLED in metadata where the end route would drop it (_outcome.py).
        self._outcomes = OutcomeCarrier()

    #: Each record is a request: the processor lets go of its fork gate meanwhile.
    network = True
    #: How long a busy worker lets events gather before it sends them back to back. Each
    #: look at the queue is a timed wait: about 50 us of CPU on the benchmark's VM, and a
    #: GIL hand-off that the caller's thread pays for too (bench_process_cpu.py).
    batch_interval_s = 0.05
    #: Called after each record is settled (the batch processor sets it): a worker whose
    #: batch takes long is stalled only when one record holds it, not a whole batch.
    progress: Optional[Callable[[], None]] = None

    def export(
        self, records: Sequence[Record], carried: Optional[Sequence[Optional[str]]] = None
    ) -> ExportResult:
        """
        Send ``records`` one after another; see :class:`ExportResult`.

        ``carried``: the outcome each record carries in its metadata (``None``: nothing),
        for a caller that sends a session's records in several calls and planned them with
        :meth:`plan_outcomes` over more records than it sends at once; by default the
        outcomes are planned over ``records``.
        """
        outcomes: List[Optional[str]] = []
        created: Dict[str, str] = {}
        tally = [0]  # retries of this call (several workers may export at once)
        if carried is None:
            carriers = self._outcomes.plan(records)
        else:
            carriers = {index: status for index, status in enumerate(carried) if status}
        progress = self.progress
        for index, record in enumerate(records):
            try:
                self._send(record, created, tally, carriers.get(index))
            except Dropped as dropped:
                outcomes.append(dropped.reason)
            else:
                outcomes.append(None)
            if progress is not None:
                progress()
        # Forgotten only after the batch: a turn recorded after its session's end (a late
        # callback) may follow the end in the same batch, before the session's id is known
        # to its records.
        for record in records:
            if isinstance(record, SessionEnd):
                self._session_ids.pop(record.key, None)
        return ExportResult(outcomes, created, tally[0])

    def plan_outcomes(self, records: Sequence[Record]) -> Dict[int, str]:
        """Which of ``records`` would carry their session's outcome, sent together
        (``{index: status}``; see :mod:`provenant.backends._outcome`)."""
        return self._outcomes.plan(records)

    def _send(
        self,
        record: Record,
        created: Dict[str, str],
        tally: List[int],
        outcome: Optional[str] = None,
    ) -> None:
        """
        Deliver one record (with its retries); ``outcome``: its session's end status to
        carry in its metadata.

        Raises:
            Dropped: It cannot be delivered.
        """
        if isinstance(record, SessionStart):

            def lookup(name: str) -> str:
                answer = self._post("/api/agents/get-or-create", {"name": name}, tally, True)
                return str(answer["id"])

            agent_id = self._agents.resolve(record.agent, lookup)
            if record.parent_id is None and record.parent_key is not None:
                record.parent_id = self._session_ids.get(record.parent_key)
            body = with_outcome(wire_body(record, agent_id), outcome)
            answer = self._post("/api/sessions", body, tally, True)
            session_id = str(answer["id"])
            self._session_ids[record.key] = session_id
            created[record.key] = session_id
            return
        session = record.session_id or self._session_ids.get(record.key)
        if session is None:
            raise Dropped("session_not_created")
        if isinstance(record, SessionEnd):
            asks = self._outcomes.asks(record)
            answer = self._post(f"/api/sessions/{session}/end", wire_body(record), tally, asks)
            if asks:
                self._outcomes.learn(record.status, answer)
        else:
            body = with_outcome(wire_body(record), outcome)
            self._post(f"/api/sessions/{session}/turns", body, tally)

    def read(self, path: str) -> Any:
        """``GET`` one route, once (no retries)."""
        return self._backend.request("GET", path, retries=0)

    def interrupt(self) -> None:
        """Stop waiting between attempts and for the rate limit (shutdown)."""
        self._stop.set()
        interrupt = getattr(self._backend, "interrupt", None)
        if interrupt is not None:
            interrupt()

    @property
    def rate_limit(self) -> Any:
        """The backend's :class:`~provenant.backends._pacing.RateLimit`, or ``None``."""
        return getattr(self._backend, "rate_limit", None)

    def _post(self, path: str, body: Dict[str, Any], tally: List[int], answer: bool = False) -> Any:
        """POST with retries on transient failures; raise :class:`Dropped` on giving up.

        ``answer=False``: nobody reads the answer (turns, ends), so it is not decoded."""
        key = self._new_key()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._backend.request(
                    "POST", path, body=body, idempotency_key=key, retries=0, decode=answer
                )
            except AuthenticationError as exc:
                self._log_auth_once(exc)
                raise Dropped("unauthorized") from None
            except RateLimitError as exc:
                # Never dropped for a 429: the backend's pacer waits as told before the
                # next attempt (interrupted by shutdown); a backend without one waits
                # here. Either way the attempt does not count towards max_attempts.
                if not hasattr(self._backend, "rate_limit"):  # else its pacer logs it
                    self._log_throttled(exc)
                if self._stop.is_set():
                    raise Dropped("shutdown") from None
                tally[0] += 1
                attempt -= 1
                if not hasattr(self._backend, "rate_limit"):
                    hold_s = min(exc.retry_after or _BARE_429_WAIT_S, _BARE_429_WAIT_S * 60)
                    if self._stop.wait(hold_s):
                        raise Dropped("shutdown") from None
                continue
            except ClientClosedError:
                raise Dropped("shutdown") from None
            except ServerError as exc:
                if not BACKGROUND_DELIVERY.retries_status(exc.status_code or 500):
                    raise Dropped(f"rejected_{exc.status_code}") from None
                self._log_unreachable(exc)
            except TransportError as exc:
                self._log_unreachable(exc)
            except APIError as exc:
                raise Dropped(f"rejected_{exc.status_code}") from None
            if attempt >= self._max_attempts:
                raise Dropped("retries_exhausted")
            tally[0] += 1
            wait_s = BACKGROUND_DELIVERY.wait_s(attempt - 1)
            if self._stop.wait(wait_s or 0.0):
                raise Dropped("shutdown")

    def _log_unreachable(self, exc: Exception) -> None:
        """One line per minute while the destination cannot be reached or fails."""
        log_fault(
            "exporter-unreachable",
            f"cannot deliver to {self._destination} ({exc}); retrying with backoff, and "
            f"dropping an event after {self._max_attempts} attempts",
        )

    def _log_throttled(self, exc: RateLimitError) -> None:
        """One line per minute while the API's rate limit holds delivery back."""
        log_fault(
            "exporter-rate-limited",
            f"{self._destination} answered 429 (rate limited, {exc}); waiting as it says, "
            "then sending again: nothing is dropped for it",
        )

    def _log_auth_once(self, exc: AuthenticationError) -> None:
        if self._auth_logged:
            return
        self._auth_logged = True  # two workers may both log it: no lock a fork could hold
        logger.log(
            logging.ERROR,
            "provenant: the API refused the API key %s... (401); nothing will be recorded "
            "until it is fixed. Check PROVENANT_API_KEY. (%s)",
            self._key_prefix or "(none)",
            exc,
        )

    def shutdown(self) -> None:
        """Close the backend's connections. Idempotent."""
        self._backend.close()
