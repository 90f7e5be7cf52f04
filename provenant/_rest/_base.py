"""
What the REST method groups of :class:`provenant.ProvenantClient` share: the one call they
make (:meth:`RestCalls._request`, one request to the client's destination, its answer
decoded) and the small rules of building bodies and paths.

Each group (:mod:`._agents`, :mod:`._sessions`, :mod:`._evals`) is a mixin over
:class:`RestCalls`; the client is the class that joins them and gives ``_backend``.
"""

from __future__ import annotations

import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any, Mapping, Optional

from provenant._wire import decode_record

if TYPE_CHECKING:
    from provenant.backends import Backend
    from provenant.backends._agents import AgentDirectory

__all__ = ["RestCalls", "drop_none", "listed", "segment"]


class RestCalls:
    """The seam of the REST method groups: one request, its answer decoded."""

    _agents: AgentDirectory

    @property
    def _backend(self) -> Backend:
        """The client's connection to its destination (opened on first use)."""
        raise NotImplementedError

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Optional[Mapping[str, Optional[str]]] = None,
        write: bool = False,
    ) -> Any:
        """Send one request (``write``: with an ``Idempotency-Key``); the decoded answer."""
        clean_query = {k: v for k, v in (query or {}).items() if v is not None}
        answer = self._backend.request(
            method,
            path,
            body=body,
            query=clean_query or None,
            idempotency_key=str(uuid.uuid4()) if write else None,
        )
        return decode_record(answer)

    def _agent_id(self, agent: str) -> str:
        """An agent's id from its id or name (the agents' group's ``resolve_agent_id``)."""
        raise NotImplementedError


def listed(value: Any) -> Any:
    """A list of an iterable's items (a generator is read once, here), or ``value`` as it
    is when it is ``None``, text or a mapping (for the argument check to refuse)."""
    if value is None or isinstance(value, (str, bytes, Mapping)):
        return value
    try:
        return list(value)
    except TypeError:  # not iterable: the argument check names it
        return value


def drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that are not ``None``."""
    return {key: value for key, value in fields.items() if value is not None}


def segment(value: str) -> str:
    """Quote an id for use as one path segment (an id never changes the route)."""
    return urllib.parse.quote(str(value), safe="")
