"""
A session's outcome where a server's end route drops it.

The hosted platform's ``POST /api/sessions/:id/end`` ignores ``status``: a session ended
``FAILED`` or ``CANCELLED`` shows ``COMPLETED`` there. What that server keeps is
metadata, so the REST exporter carries such an outcome in the metadata of a record of
the same batch that is still to be sent: the session's create when the whole session
is in the batch, else its last turn in the batch. An end alone in its batch has
nowhere to go (the hosted server has no route to change a session's metadata). The
forwarder sends the spool one record at a time but plans each page of it as one batch
(``HttpExporter.plan_outcomes``, then ``export(records, carried)``).

Carried only where it would be lost: never for ``COMPLETED``, and no longer once an
end's answer shows the destination kept the status itself (``provenant serve`` does),
so its sessions' metadata stays as recorded. Until an answer has told (the first ended
session that is not ``COMPLETED``), it is carried::

    outcomes = OutcomeCarrier()
    carriers = outcomes.plan(records)    # {index of a create or turn: "FAILED"}
    body = with_outcome(wire_body(record), carriers[i])
    outcomes.learn("FAILED", end_answer)  # the end's answer: did the server keep it?
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from provenant.backends._records import Record, SessionEnd, SessionStart, TurnRecord

__all__ = ["OUTCOME_KEYS", "OutcomeCarrier", "with_outcome"]

#: The metadata keys an outcome is carried under: the first one the user's own metadata
#: does not hold (their ``status`` is never overwritten); none free, none carried.
OUTCOME_KEYS = ("status", "sessionStatus")
_KEPT_EVERYWHERE = "COMPLETED"


def with_outcome(body: Dict[str, Any], status: Optional[str]) -> Dict[str, Any]:
    """``body`` (a create's or turn's) with ``status`` added to a copy of its metadata."""
    if status is None:
        return body
    metadata = body.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    for key in OUTCOME_KEYS:
        if key not in metadata:
            metadata[key] = status
            return {**body, "metadata": metadata}
    return body


class OutcomeCarrier:
    """Which records of a batch carry their session's outcome, and what ends have shown."""

    def __init__(self) -> None:
        #: ``None`` until an end's answer tells; then whether the destination keeps status.
        self.keeps_status: Optional[bool] = None

    def plan(self, records: Sequence[Record]) -> Dict[int, str]:
        """``{index of the record to carry it: the outcome}`` for the batch's ends."""
        if self.keeps_status:
            return {}
        start: Dict[str, int] = {}
        last_turn: Dict[str, int] = {}
        carriers: Dict[int, str] = {}
        for index, record in enumerate(records):
            if isinstance(record, SessionStart):
                start[record.key] = index
            elif isinstance(record, TurnRecord):
                last_turn[record.key] = index
        for record in records:
            if not isinstance(record, SessionEnd) or record.status == _KEPT_EVERYWHERE:
                continue
            where = start.get(record.key, last_turn.get(record.key))
            if where is not None:
                carriers[where] = record.status
        return carriers

    def asks(self, record: Record) -> bool:
        """Whether the answer to this end would tell if the destination keeps status."""
        return (
            self.keeps_status is None
            and isinstance(record, SessionEnd)
            and record.status != _KEPT_EVERYWHERE
        )

    def learn(self, sent: str, answer: Any) -> None:
        """Note from an end's answer (the ended session) whether ``sent`` was kept."""
        shown = answer.get("status") if isinstance(answer, dict) else None
        if shown == sent:
            self.keeps_status = True
        elif shown == _KEPT_EVERYWHERE:
            self.keeps_status = False
