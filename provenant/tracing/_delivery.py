"""
:class:`Delivery`: what shipping knows of one session, written by the batch processor.

A :class:`~provenant.tracing.Session` holds one, and only reads it: recording never
calls back into shipping, and shipping never calls back into a session::

    delivery = session.delivery
    delivery.server_id        # the destination's id, once its create was delivered
    delivery.mark_created(id) # the processor: the create was delivered (None: dropped)
    delivery.wait_created(5)  # a reader of ``session.id``: a bounded wait

The processor also counts the session's deferred work (``deferred`` enqueued,
``deferred_done`` run or dropped), so that a reader of ``session.usage`` can wait for it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Optional

__all__ = ["Delivery"]

# Taken only to make an event someone waits on (most sessions never wait): one for all.
_event_lock = threading.Lock()


def _fresh_lock_in_child() -> None:
    # A thread of the parent may have held the lock at the fork: the child's is new.
    global _event_lock
    _event_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


class Delivery:
    """
    The delivery state of one session: its destination id, its create's outcome and its
    deferred work's progress. Written by the processor (the caller's thread when it
    enqueues, the session's one worker after); read by the session's handle.

    Attributes:
        server_id: The destination's id of the session (given at once to a resumed one).
        awaiting: A create was enqueued and has not been delivered or dropped yet.
        failed: The create was dropped (or could not be enqueued).
        dropped: Why the create was dropped (a stats key), said by its turns' drops.
        deferred: Deferred work enqueued for the session.
        deferred_done: Deferred work run or dropped by the worker.
    """

    # Class-level defaults, no ``__init__``: a session block makes one (the hot path),
    # and most sessions never write more than a field or two of it.
    server_id: Optional[str] = None
    awaiting = False
    failed = False
    dropped: Optional[str] = None
    deferred = 0
    deferred_done = 0
    _created: Optional[threading.Event] = None
    _caught_up: Optional[threading.Event] = None

    # -- written by the processor -----------------------------------------------------

    def mark_created(self, server_id: Optional[str]) -> None:
        """Record the destination's id (``None``: the create failed) and wake waiters."""
        if server_id is None:
            self.failed = True
        else:
            self.server_id = server_id
        self.awaiting = False  # published before the event is read: no lost wake-up
        created = self._created
        if created is not None:
            created.set()

    def deferred_finished(self) -> None:
        """A deferred record was run or dropped (on the worker): wake a reader of usage."""
        self.deferred_done += 1  # one worker per session: no lost update
        caught_up = self._caught_up
        if caught_up is not None:
            caught_up.set()

    # -- read by the session and by other sessions' creates ---------------------------

    def creation(self) -> Optional[threading.Event]:
        """The event set when the create ends, or ``None`` when there is nothing to wait
        for (the id is known, the create failed or was never sent)."""
        if self.server_id is not None or not self.awaiting:
            return None
        # The event is made only when someone waits, and the answer is checked again
        # after publishing it: see mark_created for the order.
        with _event_lock:
            created = self._created
            if created is None:
                created = self._created = threading.Event()
        return created if self.awaiting else None

    def wait_created(self, timeout: float) -> Optional[str]:
        """The destination's id, waiting at most ``timeout`` seconds for the create."""
        created = self.creation()
        if created is not None:
            created.wait(timeout)
        return self.server_id

    def behind(self) -> bool:
        """Whether deferred work enqueued so far is still to run."""
        return self.deferred_done < self.deferred

    def await_deferred(self, timeout: float) -> None:
        """Wait (bounded) until the worker has run every deferred record enqueued so far."""
        deadline = time.monotonic() + timeout
        target = self.deferred
        while self.deferred_done < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            caught_up = self._caught_up = threading.Event()
            # Checked again after publishing the event: see deferred_finished for the order.
            if self.deferred_done < target:
                caught_up.wait(min(remaining, 0.05))
