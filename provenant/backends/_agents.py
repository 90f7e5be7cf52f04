"""
The agent directory: agent names to ids, resolved once per name and process.

::

    agents = AgentDirectory()
    agent_id = agents.resolve("Support Bot", lookup)   # lookup(name) -> id, called once

One directory serves a client's explicit calls (``get_or_create_agent``) and its
exporter (sessions opened with an agent's name). A UUID is an id already and passes
through; a name is looked up by one thread while the others asking for the same name
wait for its answer, so a burst of sessions of a new agent costs one request.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from typing import Callable, ContextManager, Dict, Optional

from provenant._wire import is_uuid

__all__ = ["AgentDirectory"]


class AgentDirectory:
    """A thread-safe cache of agent ids by name, with one lookup in flight per name."""

    def __init__(self) -> None:
        self._ids: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._resolving: Dict[str, threading.Lock] = {}
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self.after_fork)

            def after_in_child() -> None:
                method = ref()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=after_in_child)

    def cached(self, name: str) -> Optional[str]:
        """The id known for ``name``, or ``None`` (never a request)."""
        return self._ids.get(name)  # one dict read: atomic without the lock

    def remember(self, name: str, agent_id: str) -> None:
        """Record ``name``'s id (e.g. learned from an explicit create)."""
        with self._lock:
            self._ids[name] = agent_id

    def resolve(
        self,
        agent: str,
        lookup: Callable[[str], str],
        *,
        uuid_is_id: bool = True,
        waiting: Callable[[], ContextManager[None]] = contextlib.nullcontext,
    ) -> str:
        """
        The id of ``agent``: a UUID as it is, a name from the cache or from ``lookup``.

        ``uuid_is_id=False`` looks a name up even when it is written as a UUID (an
        explicit ``get_or_create_agent(name)``). ``waiting()`` wraps the wait for another
        thread's lookup of the same name (a worker lets go of its fork gate there).

        Raises:
            Exception: Whatever ``lookup`` raises (nothing is cached then).
        """
        cached = self._ids.get(agent)
        if cached is not None:
            return cached
        if uuid_is_id and is_uuid(agent):
            return agent
        with self._lock:
            cached = self._ids.get(agent)
            resolving = self._resolving.setdefault(agent, threading.Lock())
        if cached is not None:
            return cached
        with waiting():
            resolving.acquire()
        try:
            cached = self._ids.get(agent)
            if cached is not None:
                return cached
            agent_id = lookup(agent)
            self.remember(agent, agent_id)
        finally:
            resolving.release()
        return agent_id

    def after_fork(self) -> None:
        """In a forked child: fresh locks (the parent's may have been held at fork time)."""
        self._lock = threading.Lock()
        self._resolving = {}
