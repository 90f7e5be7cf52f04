"""
:class:`EvalClient`: what an eval run needs of a client, so that evals never import it.

:class:`provenant.ProvenantClient` satisfies it; :func:`provenant.evals.evaluate` takes
one (the default client when none is given) and runs the suite through it::

    report = evaluate(suite_id, answer, client=client)   # any EvalClient
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

from typing_extensions import Protocol

if TYPE_CHECKING:
    from provenant.config import Settings
    from provenant.tracing._session import Session

__all__ = ["EvalClient"]


class EvalClient(Protocol):
    """The REST methods and the session of a client that an eval run calls."""

    @property
    def settings(self) -> Settings:
        """The client's settings (its default agent)."""
        ...

    def get_eval_suite(self, suite_id: str) -> dict[str, Any]:
        """Fetch a suite with its cases."""
        ...

    def resolve_agent_id(self, agent: str) -> str:
        """An agent's id from its id or name."""
        ...

    def create_eval_run(
        self,
        suite_id: str,
        agent_id: str,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]:
        """Start a run."""
        ...

    def session(
        self,
        agent_id: Optional[str] = None,
        *,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        external_id: Optional[str] = None,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> Session:
        """A traced session of one case."""
        ...

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Deliver what was recorded."""
        ...

    def submit_results(self, run_id: str, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Send a chunk of results."""
        ...

    def wait_for_completion(
        self,
        run_id: str,
        poll_interval_seconds: float = 2.0,
        timeout_seconds: float = 300.0,
    ) -> dict[str, Any]:
        """Wait for a run to finish."""
        ...
