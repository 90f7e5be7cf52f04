"""The delivery state a session holds: written by the processor, read by the handle."""

from __future__ import annotations

import threading

from provenant.tracing._delivery import Delivery


def test_a_reader_of_the_id_wakes_when_the_create_is_delivered() -> None:
    """wait_created returns the destination's id as soon as the processor marks it."""
    delivery = Delivery()
    delivery.awaiting = True
    timer = threading.Timer(0.05, delivery.mark_created, args=("sess-1",))
    timer.start()
    try:
        assert delivery.wait_created(5.0) == "sess-1"
    finally:
        timer.join()
    assert not delivery.awaiting and not delivery.failed


def test_a_dropped_create_ends_the_wait_with_no_id() -> None:
    """A create marked failed wakes its waiters with no id, and they never wait again."""
    delivery = Delivery()
    delivery.awaiting = True
    delivery.mark_created(None)
    assert delivery.failed
    assert delivery.creation() is None
    assert delivery.wait_created(5.0) is None


def test_a_resumed_session_has_its_id_at_once() -> None:
    """A session given its id has nothing to wait for."""
    delivery = Delivery()
    delivery.server_id = "known"
    assert delivery.wait_created(0.0) == "known"


def test_a_reader_of_usage_waits_for_deferred_work() -> None:
    """await_deferred returns once the worker has finished the work enqueued so far."""
    delivery = Delivery()
    delivery.deferred = 2
    worker = threading.Thread(
        target=lambda: [delivery.deferred_finished() for _ in range(2)], name="test-worker"
    )
    worker.start()
    delivery.await_deferred(5.0)
    worker.join()
    assert delivery.deferred_done == 2
