"""A minimal raw HTTP client of the local server, shared by the server tests."""

from __future__ import annotations

import http.client
import json
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit


class Api:
    """A minimal keep-alive JSON client of the local server (no SDK code in between)."""

    def __init__(self, url: str, key: Optional[str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.key = key
        self._conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def raw(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> tuple[int, Any, dict[str, str]]:
        sent = {"Content-Type": "application/json"}
        if self.key is not None:
            sent["Authorization"] = f"Bearer {self.key}"
        sent.update(headers or {})
        try:
            self._conn.request(method, path, body=body, headers=sent)
            response = self._conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self._conn.close()
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self._conn.request(method, path, body=body, headers=sent)
            response = self._conn.getresponse()
        data = response.read()
        answer = json.loads(data) if data else None
        return response.status, answer, {k.lower(): v for k, v in response.getheaders()}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> tuple[int, Any]:
        raw = None if body is None else json.dumps(body).encode("utf-8")
        status, answer, _ = self.raw(method, path, raw, headers)
        return status, answer

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        assert 200 <= status < 300, (status, answer)
        return answer

    def agent(self, name: str = "Support Bot") -> dict[str, Any]:
        agent: dict[str, Any] = self.ok("POST", "/api/agents/get-or-create", {"name": name})
        return agent

    def session(self, agent_id: Optional[str] = None, **fields: Any) -> dict[str, Any]:
        body = {"agentId": agent_id or self.agent()["id"], **fields}
        session: dict[str, Any] = self.ok("POST", "/api/sessions", body)
        return session

    def close(self) -> None:
        self._conn.close()
