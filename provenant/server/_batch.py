"""
Many session writes in one transaction: how the embedded exporter writes a batch.

::

    ids: dict[str, str] = {}                       # the caller's session keys -> ids
    outcomes = write_batch(store, org_id, [
        SessionWrite("createSession", "k1", {"agentId": agent_id, "externalId": "x"}),
        SessionWrite("addTurn", "k1", {"role": "USER", "content": "hi"}),
        SessionWrite("endSession", "k1", {"status": "COMPLETED"}),
    ], ids)
    outcomes  # [(201, "<session id>"), (201, None), (200, None)]

Each write is checked by the same body validator and applied by the same route handler
as ``POST /api/sessions``, ``/turns`` and ``/end`` (so the rows, ids and refusals are the
REST routes' own), without a JSON round trip, and all of them share one ``BEGIN
IMMEDIATE`` ... ``COMMIT``. A refused write (422, 404) leaves no row and does not stop
the others; a database error rolls the whole batch back and is raised, so the caller
may write it again as a whole. The idempotency table is not written: a batch is applied
once or not at all, never half, so it has no lost answer to replay.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from provenant.server._bodies import BODIES
from provenant.server._handling import Reply
from provenant.server._sessions import add_turn, create_session, end_session
from provenant.server._store import Store

__all__ = ["SessionWrite", "write_batch"]

_HANDLERS = {"createSession": create_session, "addTurn": add_turn, "endSession": end_session}
_NO_QUERY: Dict[str, str] = {}


class SessionWrite:
    """
    One write of a session: ``route`` is ``"createSession"``, ``"addTurn"`` or
    ``"endSession"``; ``key`` names the session in the caller's terms (a create maps it
    to the new id); ``body`` is the route's request body; ``session_id``, when given,
    names the session of a turn or end directly.
    """

    __slots__ = ("body", "key", "route", "session_id")

    def __init__(
        self, route: str, key: str, body: Dict[str, Any], session_id: Optional[str] = None
    ) -> None:
        if route not in _HANDLERS:
            raise ValueError(f"{route!r} is not a session write")
        self.route = route
        self.key = key
        self.body = body
        self.session_id = session_id


Outcome = Tuple[int, Any]


def write_batch(
    store: Store, org_id: str, writes: Sequence[SessionWrite], session_ids: Dict[str, str]
) -> List[Outcome]:
    """
    Apply ``writes`` in order in one transaction; ``(status, detail)`` for each.

    ``detail`` is the new session's id for a create, ``None`` for other successes, and
    the error answer (``{"error": ...}``) for a refusal. A turn or end whose session key
    is unknown (its create was refused or never written) answers 404. ``session_ids``
    gains the keys of the sessions created, once the transaction is committed.

    Raises:
        sqlite3.Error: The transaction failed; nothing of the batch was written.
    """
    outcomes: List[Outcome] = []
    created: Dict[str, str] = {}
    with store.write() as conn:
        for write in writes:
            route = write.route
            issues: List[Dict[str, Any]] = []
            body = BODIES[route].check(write.body, [], issues)
            if issues:
                outcomes.append((422, {"error": "Validation error", "issues": issues}))
                continue
            params: List[str] = []
            if route != "createSession":
                session_id: Optional[str] = (
                    write.session_id or created.get(write.key) or session_ids.get(write.key)
                )
                if session_id is None:
                    outcomes.append((404, {"error": "Session not found"}))
                    continue
                params = [session_id]
            try:
                status, answer = _HANDLERS[route](conn, org_id, params, _NO_QUERY, body)
            except Reply as reply:
                outcomes.append((reply.status, reply.body))
                continue
            except (UnicodeEncodeError, UnicodeDecodeError):
                outcomes.append((400, {"error": "Request text is not valid Unicode"}))
                continue
            if route == "createSession":
                created[write.key] = str(answer["id"])
                outcomes.append((status, created[write.key]))
            else:
                outcomes.append((status, None))
    session_ids.update(created)
    return outcomes
