"""
The agents' REST methods of :class:`provenant.ProvenantClient`.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from provenant._rest._base import RestCalls, drop_none, listed, segment
from provenant._wire import is_uuid
from provenant.backends import agent_slug
from provenant.tracing._arguments import check_arguments

__all__ = ["AgentsApi"]


class AgentsApi(RestCalls):
    """Create, find and list agents."""

    def create_agent(
        self,
        name: str,
        slug: Optional[str] = None,
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        model_family: Optional[str] = None,
    ) -> dict[str, Any]:
        """
        Create an agent.

        Args:
            name: The display name.
            slug: ``^[a-z0-9-]+$``; derived from the name when omitted.
            description: Free text.
            tags: A list of strings.
            model_family: e.g. ``"claude"``.

        Returns:
            The agent as the server answers it.

        .. versionadded:: 0.1
        """

        tags = listed(tags)
        check_arguments(
            "create_agent()",
            {
                "name": name,
                "slug": slug,
                "description": description,
                "tags": tags,
                "model_family": model_family,
            },
        )
        body = drop_none(
            {
                "name": name,
                "slug": slug if slug is not None else agent_slug(name),
                "description": description,
                "tags": tags,
                "modelFamily": model_family,
            }
        )
        agent: dict[str, Any] = self._request("POST", "/api/agents", body=body, write=True)
        return agent

    def get_or_create_agent(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        model_family: Optional[str] = None,
    ) -> str:
        """
        Return the id of the agent with this name (by slug), creating it if needed.

        The answer is cached per client: a name is resolved once.

        Args:
            name: The agent's name.
            description: Used only when the agent is created.
            tags: Used only when the agent is created.
            model_family: Used only when the agent is created.

        Returns:
            The agent's id.

        .. versionadded:: 0.1
        """
        tags = listed(tags)
        check_arguments(
            "get_or_create_agent()",
            {"name": name, "description": description, "tags": tags, "model_family": model_family},
        )
        body = drop_none(
            {
                "name": name,
                "description": description,
                "tags": tags,
                "modelFamily": model_family,
            }
        )

        def lookup(_: str) -> str:
            agent = self._request("POST", "/api/agents/get-or-create", body=body, write=True)
            return str(agent["id"])

        return self._agents.resolve(name, lookup, uuid_is_id=False)

    def resolve_agent_id(self, agent: str) -> str:
        """
        Turn an agent reference (a UUID or a name) into an agent id.

        Args:
            agent: A UUID is returned as it is; a name goes through
                :meth:`get_or_create_agent` (cached).

        .. versionadded:: 0.1
        """
        if is_uuid(agent):
            return agent
        return self.get_or_create_agent(agent)

    def _agent_id(self, agent: str) -> str:
        return self.resolve_agent_id(agent)

    def list_agents(self) -> list[dict[str, Any]]:
        """
        List the agents of your organisation, most recently updated first.

        .. versionadded:: 0.1
        """
        agents: list[dict[str, Any]] = self._request("GET", "/api/agents")
        return agents

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        """
        Fetch one agent, with its ``versions`` and ``_count``.

        Raises:
            NotFoundError: No such agent in your organisation.

        .. versionadded:: 0.1
        """
        agent: dict[str, Any] = self._request("GET", f"/api/agents/{segment(agent_id)}")
        return agent
