"""Which record of a batch carries a session's outcome, and what an end's answer teaches."""

from __future__ import annotations

from provenant.backends._outcome import OutcomeCarrier, with_outcome
from provenant.backends._records import SessionEnd, SessionStart, TurnRecord


def test_the_create_carries_it_else_the_last_turn_and_completed_nothing() -> None:
    """A batch with the create marks the create; without it, the session's last turn."""
    records = [
        SessionStart("a", agent="A", external_id="a"),
        TurnRecord("a", role="USER", content="x"),
        TurnRecord("b", role="USER", content="y"),
        TurnRecord("b", role="ASSISTANT", content="z"),
        TurnRecord("c", role="USER", content="w"),
        SessionEnd("a", status="FAILED"),
        SessionEnd("b", status="CANCELLED"),
        SessionEnd("c", status="COMPLETED"),
        SessionEnd("d", status="FAILED"),  # alone: nothing to ride on
    ]
    assert OutcomeCarrier().plan(records) == {0: "FAILED", 3: "CANCELLED"}


def test_an_answer_that_kept_the_status_stops_the_carrying() -> None:
    """FAILED echoed back: the server keeps it; COMPLETED back: it drops it."""
    records = [SessionStart("a", agent="A", external_id="a"), SessionEnd("a", status="FAILED")]
    keeping, dropping, silent = OutcomeCarrier(), OutcomeCarrier(), OutcomeCarrier()
    assert keeping.asks(records[1]) and not keeping.asks(SessionEnd("x", status="COMPLETED"))
    keeping.learn("FAILED", {"status": "FAILED"})
    dropping.learn("FAILED", {"status": "COMPLETED"})
    silent.learn("FAILED", None)  # no answer to read: still unknown
    assert (keeping.plan(records), keeping.asks(records[1])) == ({}, False)
    assert dropping.plan(records) == {0: "FAILED"} and not dropping.asks(records[1])
    assert silent.keeps_status is None and silent.plan(records) == {0: "FAILED"}


def test_the_users_status_key_is_kept_and_the_body_copied() -> None:
    """status taken: sessionStatus; both taken: nothing; the record's own dict is untouched."""
    mine = {"status": "vip"}
    body = {"role": "USER", "metadata": mine}
    assert with_outcome(body, "FAILED")["metadata"] == {"status": "vip", "sessionStatus": "FAILED"}
    assert mine == {"status": "vip"}
    both = {"metadata": {"status": 1, "sessionStatus": 2}}
    assert with_outcome(both, "FAILED") == both
    assert with_outcome({"role": "USER"}, "CANCELLED") == {
        "role": "USER",
        "metadata": {"status": "CANCELLED"},
    }
    assert with_outcome(body, None) is body
