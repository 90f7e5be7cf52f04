"""
Seeding the transcript of a resumed session (``session_id=``) with its recorded turns.

A resumed handle knows nothing of what earlier processes recorded, so the history a chat
API resends on its first call would be recorded again. Before the first LLM record of
such a handle is de-duplicated, the processor's worker reads the session's turns once
(``GET /api/sessions/:id``) and seeds the transcript with them::

    seed_resumed(session)   # on the worker, before transcript.select_new(...)

A failed read is logged and the handle carries on unseeded (at worst a duplicate turn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote

from provenant._logging import log_fault
from provenant._wire import decode_record
from provenant.tracing._transcript import NormalizedMessage

if TYPE_CHECKING:
    from provenant.tracing._session import Session

__all__ = ["history_of", "seed_resumed"]

_ROLES = ("SYSTEM", "USER", "TOOL")


def history_of(turns: Any) -> list[NormalizedMessage]:
    """The SYSTEM, USER and TOOL turns of a decoded session answer, as messages in order."""
    history: list[NormalizedMessage] = []
    for turn in turns if isinstance(turns, list) else ():
        if not isinstance(turn, dict) or turn.get("role") not in _ROLES:
            continue
        metadata = turn.get("metadata")
        call_id = metadata.get("toolCallId") if isinstance(metadata, dict) else None
        history.append(
            NormalizedMessage(
                str(turn["role"]),
                turn.get("content", ""),
                tool_call_id=call_id if isinstance(call_id, str) else None,
            )
        )
    return history


def seed_resumed(session: Session) -> None:
    """
    Seed a resumed session's transcript with its server turns, once; never raises.

    Only on the processor's worker: with no processor, or a session not started, deferred
    work runs on the caller's thread, which must never wait for the network.
    """
    processor = session._processor
    if processor is None or not session._started:
        return
    transcript = session.transcript
    if not transcript.take_seed():
        return
    server_id: Optional[str] = session.server_id
    if server_id is None:
        return
    try:
        answer = processor.read(f"/api/sessions/{quote(server_id, safe='')}")
        decoded = decode_record(answer)
        turns = decoded.get("turns") if isinstance(decoded, dict) else None
        transcript.seed(history_of(turns))
    except Exception as exc:  # never reaches the host: the call is recorded unseeded
        log_fault(
            "resume-seed",
            "could not read a resumed session's turns; history resent after resuming "
            "may be recorded again",
            exc,
        )
