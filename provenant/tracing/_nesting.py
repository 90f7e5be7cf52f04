"""
The one rule of nesting: whether what opens inside a session joins it, becomes its child,
or starts a new root session.

::

    nesting(tracer, outer, agent)  # JOIN, CHILD or NEW

Used by a session block (``client.session()``), a traced function (``@trace``) and an
LLM call (``instrument()``), so that the three cannot disagree:

- nothing open: ``NEW``;
- a resumed session (``session_id=``): ``NEW``, never merged nor nested;
- given its own ``external_id``: ``CHILD`` (never merged into another conversation);
- no agent named, or the same agent as the open session's: ``JOIN``;
- another agent: ``CHILD`` (a sub-agent's session, linked to its parent).

An LLM call names no agent of its own here, so inside a session it always joins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from typing_extensions import Protocol

if TYPE_CHECKING:
    from provenant.tracing._types import TracerRef

__all__ = ["CHILD", "JOIN", "NEW", "nesting"]

#: Record into the open session.
JOIN = "join"
#: Open a session of its own, the open one's child.
CHILD = "child"
#: Open a root session.
NEW = "new"


class _Opened(Protocol):
    """A session open where something starts: only its agent is read."""

    @property
    def agent(self) -> Optional[str]:
        """The agent as given (a name or an id)."""
        ...


def nesting(
    tracer: TracerRef,
    outer: Optional[_Opened],
    agent: Optional[str],
    *,
    identified: bool = False,
    resumed: bool = False,
) -> str:
    """
    How something opened inside ``outer`` relates to it.

    Args:
        tracer: Tells whether two agent references name the same agent.
        outer: The session open where it starts, if any.
        agent: The agent it names (a name or an id), if any.
        identified: It was given its own ``external_id``.
        resumed: It resumes a recorded session (``session_id=``).

    Returns:
        :data:`JOIN`, :data:`CHILD` or :data:`NEW`.
    """
    if outer is None or resumed:
        return NEW
    if identified:
        return CHILD
    if agent is None or tracer.same_agent(agent, outer.agent):
        return JOIN
    return CHILD
