"""
What the lower parts of recording read of the higher ones, as protocols, so that no
module of ``tracing/`` imports one that imports it back::

    _tracer.py   -> _session.py -> _processor.py, _nesting.py
        Tracer satisfies TracerRef      (what a session and the nesting rule read of it)
        Session satisfies Delivered     (what the batch processor reads of a session)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from typing_extensions import Protocol

if TYPE_CHECKING:
    from provenant.backends._records import SessionEnd, SessionStart
    from provenant.config import Settings
    from provenant.tracing._delivery import Delivery

__all__ = ["Delivered", "TracerRef"]


class TracerRef(Protocol):
    """The tracer as a session, a traced call and :func:`~._nesting.nesting` read it."""

    @property
    def settings(self) -> Settings:
        """The client's settings."""
        ...

    @property
    def enabled(self) -> bool:
        """Whether anything is recorded."""
        ...

    @property
    def capture_content(self) -> bool:
        """Whether contents are recorded."""
        ...

    @property
    def _processor(self) -> Any:
        """The batch processor (``None`` when nothing is delivered); typed loosely here,
        since the processor's module reads sessions through :class:`Delivered`."""
        ...

    @property
    def _observers(self) -> list[Any]:
        """The observers told of spans (the OpenTelemetry export)."""
        ...

    def default_agent(self) -> str:
        """The client's default agent (raises when none is configured)."""
        ...

    def same_agent(self, first: Optional[str], second: Optional[str]) -> bool:
        """Whether two agent references name the same agent, as far as known."""
        ...


class Delivered(Protocol):
    """A session as the batch processor reads it: its delivery state, its worker, its
    parent, and its start and end records."""

    @property
    def delivery(self) -> Delivery:
        """Its delivery state (written by the processor)."""
        ...

    @property
    def shard(self) -> int:
        """The worker its events go to."""
        ...

    @property
    def parent(self) -> Optional[Delivered]:
        """The session it is a child of, if any."""
        ...

    @property
    def _processor(self) -> object:
        """The processor of its client (compared, never called)."""
        ...

    def start_record(self, metadata: Optional[dict[str, Any]]) -> SessionStart:
        """The record of its start."""
        ...

    def end_record(self) -> SessionEnd:
        """The record of its end."""
        ...
