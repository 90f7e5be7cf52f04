"""Paging of the list answers: `limit` and `offset`, and everything when not asked."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from server_http import Api


def _ids(items: Any) -> list[str]:
    return [item["id"] for item in items]


def _agents(api: Api) -> list[str]:
    return _ids(reversed([api.agent(f"Agent {i}") for i in range(5)]))  # newest first


def _suites(api: Api) -> list[str]:
    made = [api.ok("POST", "/api/evals/suites", {"name": f"s{i}"}) for i in range(5)]
    return _ids(reversed(made))


def _runs(api: Api) -> list[str]:
    agent = api.agent()
    suite = api.ok("POST", "/api/evals/suites", {"name": "s"})
    body = {"suiteId": suite["id"], "agentId": agent["id"]}
    return _ids(reversed([api.ok("POST", "/api/evals/runs", body) for _ in range(5)]))


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/api/agents", _agents),
        ("/api/evals/suites", _suites),
        ("/api/evals/runs", _runs),
    ],
)
def test_lists_page_by_limit_and_offset(
    api: Api, path: str, make: Callable[[Api], list[str]]
) -> None:
    """`limit` and `offset` page a list in its usual order; without them it is whole."""
    everything = make(api)
    assert _ids(api.ok("GET", path)) == everything
    assert _ids(api.ok("GET", f"{path}?limit=2")) == everything[:2]
    assert _ids(api.ok("GET", f"{path}?limit=2&offset=2")) == everything[2:4]
    assert _ids(api.ok("GET", f"{path}?limit=2&offset=4")) == everything[4:]
    assert _ids(api.ok("GET", f"{path}?offset=3")) == everything[3:]
    assert api.ok("GET", f"{path}?limit=2&offset=10") == []


def test_runs_page_within_their_filter(api: Api) -> None:
    """Paging applies after the agentId/suiteId filter."""
    agent = api.agent()
    suites = [api.ok("POST", "/api/evals/suites", {"name": f"s{i}"}) for i in range(2)]
    runs = [
        api.ok("POST", "/api/evals/runs", {"suiteId": suites[i % 2]["id"], "agentId": agent["id"]})
        for i in range(6)
    ]
    wanted = _ids(reversed([run for i, run in enumerate(runs) if i % 2 == 0]))
    path = f"/api/evals/runs?suiteId={suites[0]['id']}"
    assert _ids(api.ok("GET", f"{path}&limit=2")) == wanted[:2]
    assert _ids(api.ok("GET", f"{path}&limit=2&offset=2")) == wanted[2:]


def test_a_sessions_turns_page_by_limit_and_offset(api: Api) -> None:
    """On GET /api/sessions/:id, `limit` and `offset` page its turns, oldest first."""
    session = api.session()
    path = f"/api/sessions/{session['id']}"
    turns = [
        api.ok("POST", f"{path}/turns", {"role": "USER", "content": f"turn {i}"}) for i in range(5)
    ]
    assert _ids(api.ok("GET", path)["turns"]) == _ids(turns)
    page = api.ok("GET", f"{path}?limit=2&offset=1")
    assert _ids(page["turns"]) == _ids(turns[1:3])
    assert page["id"] == session["id"] and page["agent"]["id"] == session["agentId"]
    assert _ids(api.ok("GET", f"{path}?offset=4")["turns"]) == _ids(turns[4:])


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=-1", "limit=abc", "limit=1001", "offset=-1", "offset=x", "limit="]
)
@pytest.mark.parametrize("path", ["/api/agents", "/api/evals/suites", "/api/evals/runs"])
def test_bad_paging_is_422(api: Api, path: str, query: str) -> None:
    """A limit outside 1..1000 or a negative or non-integer offset is a validation error."""
    status, answer = api.call("GET", f"{path}?{query}")
    assert status == 422, answer
    assert answer["error"] == "Validation error"
    assert answer["issues"][0]["path"] == [query.split("=")[0]]
