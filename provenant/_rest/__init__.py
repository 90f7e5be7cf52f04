"""
The REST methods of :class:`provenant.ProvenantClient`, in groups: agents, sessions and
turns, eval suites and runs. Each is a mixin over :class:`._base.RestCalls`.
"""

from __future__ import annotations

from provenant._rest._agents import AgentsApi
from provenant._rest._evals import EvalsApi
from provenant._rest._sessions import SessionsApi

__all__ = ["AgentsApi", "EvalsApi", "SessionsApi"]
