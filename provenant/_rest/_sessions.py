"""
The sessions' and turns' REST methods of :class:`provenant.ProvenantClient`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from provenant._rest._base import RestCalls, drop_none, listed, segment
from provenant.tracing._arguments import check_arguments

__all__ = ["SessionsApi"]

_TURN_ROLES = ("USER", "ASSISTANT", "SYSTEM", "TOOL")
_SESSION_END_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")


class SessionsApi(RestCalls):
    """Create, read, end and delete sessions, and add turns."""

    def create_session(
        self,
        agent_id: str,
        agent_version_id: Optional[str] = None,
        environment_id: Optional[str] = None,
        external_id: Optional[str] = None,
        user_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]:
        """
        Create a session of an agent.

        Args:
            agent_id: The agent's id (a name is resolved with get-or-create).
            agent_version_id: Optional version id.
            environment_id: Optional environment id.
            external_id: Your own id for the session.
            user_id: The end user's id.
            metadata: A JSON object.
            tags: A list of strings.

        Returns:
            The session, with ``agent``.

        Raises:
            NotFoundError: The agent is not in your organisation.
            TypeError: An argument of the wrong type (named in the message), such as one
                string given as ``tags``.

        .. versionadded:: 0.1
        """
        tags = listed(tags)
        check_arguments(
            "create_session()",
            {
                "agent_id": agent_id,
                "agent_version_id": agent_version_id,
                "environment_id": environment_id,
                "external_id": external_id,
                "user_id": user_id,
                "metadata": metadata,
                "tags": tags,
            },
        )
        body = drop_none(
            {
                "agentId": self._agent_id(agent_id),
                "agentVersionId": agent_version_id,
                "environmentId": environment_id,
                "externalId": external_id,
                "userId": user_id,
                "metadata": dict(metadata) if metadata is not None else None,
                "tags": tags,
            }
        )
        session: dict[str, Any] = self._request("POST", "/api/sessions", body=body, write=True)
        return session

    def get_session(self, session_id: str) -> dict[str, Any]:
        """
        Fetch a session with its ``turns`` in order.

        .. versionadded:: 0.1
        """
        session: dict[str, Any] = self._request("GET", f"/api/sessions/{segment(session_id)}")
        return session

    def list_sessions(
        self,
        agent_id: Optional[str] = None,
        *,
        environment_id: Optional[str] = None,
        status: Optional[str] = None,
        q: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        """
        List up to 100 sessions, newest first.

        Args:
            agent_id: Only this agent's sessions.
            environment_id: Only this environment's sessions.
            status: ``ACTIVE``, ``COMPLETED`` or ``FAILED``.
            q: Only sessions with a turn whose content contains this text.

        .. versionadded:: 0.1
        """
        sessions: list[dict[str, Any]] = self._request(
            "GET",
            "/api/sessions",
            query={"agentId": agent_id, "environmentId": environment_id, "status": status, "q": q},
        )
        return sessions

    def delete_session(self, session_id: str) -> dict[str, Any]:
        """
        Delete a session and its turns.

        The request carries an ``Idempotency-Key``, so a retry after a lost answer
        gets the first answer again rather than a ``NotFoundError``.

        .. versionadded:: 0.1
        """
        answer: dict[str, Any] = self._request(
            "DELETE", f"/api/sessions/{segment(session_id)}", write=True
        )
        return answer

    def add_turn(
        self,
        session_id: str,
        role: str,
        content: Any,
        tool_calls: Optional[Sequence[Mapping[str, Any]]] = None,
        latency_ms: Optional[int] = None,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]:
        """
        Add a turn to a session.

        Args:
            session_id: The session's id.
            role: ``USER``, ``ASSISTANT``, ``SYSTEM`` or ``TOOL`` (any case).
            content: A string, or a JSON object or array.
            tool_calls: The tool calls of an assistant turn.
            latency_ms: Latency of the turn in milliseconds.
            input_tokens: Prompt tokens.
            output_tokens: Completion tokens.
            metadata: A JSON object.

        Returns:
            The created turn.

        Raises:
            ValueError: The role is not one of the four.
            TypeError: An argument of the wrong type (named in the message), such as one
                string given as ``tool_calls``.

        .. versionadded:: 0.1
        """
        tool_calls = listed(tool_calls)
        check_arguments(
            "add_turn()",
            {
                "session_id": session_id,
                "role": role,
                "tool_calls": tool_calls,
                "metadata": metadata,
            },
        )
        wire_role = role.upper()
        if wire_role not in _TURN_ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(_TURN_ROLES)}.")
        body = drop_none(
            {
                "role": wire_role,
                "content": content,
                "toolCalls": tool_calls,
                "latencyMs": latency_ms,
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "metadata": dict(metadata) if metadata is not None else None,
            }
        )
        turn: dict[str, Any] = self._request(
            "POST", f"/api/sessions/{segment(session_id)}/turns", body=body, write=True
        )
        return turn

    def end_session(
        self,
        session_id: str,
        status: str = "COMPLETED",
        *,
        total_tokens: Optional[int] = None,
        total_latency_ms: Optional[int] = None,
    ) -> dict[str, Any]:
        """
        End a session.

        Args:
            session_id: The session's id.
            status: ``COMPLETED`` (default), ``FAILED`` or ``CANCELLED``.
            total_tokens: Optional total, stored on the session.
            total_latency_ms: Optional total, stored on the session.

        Returns:
            The ended session.

        .. versionadded:: 0.1
        """
        check_arguments("end_session()", {"session_id": session_id, "status": status})
        wire_status = status.upper()
        if wire_status not in _SESSION_END_STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(_SESSION_END_STATUSES)}.")
        body = drop_none(
            {"status": wire_status, "totalTokens": total_tokens, "totalLatencyMs": total_latency_ms}
        )
        session: dict[str, Any] = self._request(
            "POST", f"/api/sessions/{segment(session_id)}/end", body=body, write=True
        )
        return session
