"""The REST contract as the local server answers it, driven over real HTTP."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from server_http import Api

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _is_uuid4(value: str) -> bool:
    return uuid.UUID(value).version == 4


def test_health_answers_without_auth(anon_api: Api) -> None:
    """GET /health answers ok with an ISO timestamp and needs no key."""
    status, body = anon_api.call("GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert ISO_MS.match(body["ts"])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing or invalid Authorization header"),
        ("Basic abc", "Missing or invalid Authorization header"),
        ("Bearer pk_live_" + "0" * 32, "Invalid or expired API key"),
    ],
)
def test_api_routes_need_a_valid_key(anon_api: Api, header: Any, message: str) -> None:
    """A missing, malformed or unknown key gets 401 with the contract's message."""
    headers = {"Authorization": header} if header else {}
    status, body = anon_api.call("GET", "/api/agents", headers=headers)
    assert status == 401
    assert body == {"error": message}


def test_agent_fields_and_formats(api: Api) -> None:
    """A created agent has every contract field, a uuid4 id, ms timestamps and its tags list."""
    status, agent = api.call(
        "POST",
        "/api/agents",
        {"name": "Bot", "slug": "bot", "tags": ["a"], "modelFamily": "claude"},
    )
    assert status == 201
    assert set(agent) == {
        "id",
        "orgId",
        "name",
        "slug",
        "description",
        "tags",
        "modelFamily",
        "status",
        "createdAt",
        "updatedAt",
    }
    assert _is_uuid4(agent["id"])
    assert agent["tags"] == ["a"]
    assert agent["status"] == "ACTIVE"
    assert ISO_MS.match(agent["createdAt"]) and ISO_MS.match(agent["updatedAt"])
    detail = api.ok("GET", f"/api/agents/{agent['id']}")
    assert detail["versions"] == []
    assert detail["_count"]["sessions"] == 0


def test_get_or_create_is_keyed_by_slug(api: Api) -> None:
    """Names with the same slug yield the same agent: 201 the first time, 200 after."""
    status, first = api.call("POST", "/api/agents/get-or-create", {"name": "Support Bot"})
    assert status == 201
    assert first["slug"] == "support-bot"
    for name in ("Support Bot", "support  bot!", "--SUPPORT_bot--"):
        status, again = api.call("POST", "/api/agents/get-or-create", {"name": name})
        assert status == 200
        assert again["id"] == first["id"]
    other = api.agent("Support Bot 2")
    assert other["id"] != first["id"]


def test_duplicate_slug_is_a_conflict(api: Api) -> None:
    """Creating a second agent with a taken slug answers 409, not 500."""
    api.ok("POST", "/api/agents", {"name": "A", "slug": "same"})
    status, body = api.call("POST", "/api/agents", {"name": "B", "slug": "same"})
    assert status == 409
    assert "error" in body


def test_agent_update_and_archive(api: Api) -> None:
    """PATCH changes the given fields; DELETE archives the agent."""
    agent = api.agent("Patchy")
    patched = api.ok("PATCH", f"/api/agents/{agent['id']}", {"description": "d", "tags": ["x"]})
    assert patched["description"] == "d"
    assert patched["tags"] == ["x"]
    assert patched["name"] == "Patchy"
    archived = api.ok("DELETE", f"/api/agents/{agent['id']}")
    assert archived["status"] == "ARCHIVED"


def test_agents_list_newest_updated_first(api: Api) -> None:
    """GET /api/agents lists the org's agents, most recently updated first."""
    first = api.agent("First")
    second = api.agent("Second")
    assert [a["id"] for a in api.ok("GET", "/api/agents")] == [second["id"], first["id"]]
    time.sleep(0.005)  # updatedAt has millisecond resolution: make the touch strictly later
    api.ok("PATCH", f"/api/agents/{first['id']}", {"description": "touched"})
    assert [a["id"] for a in api.ok("GET", "/api/agents")] == [first["id"], second["id"]]


def test_session_defaults_and_json_columns(api: Api) -> None:
    """A new session is ACTIVE, carries its agent, and answers metadata/tags decoded."""
    agent = api.agent()
    status, session = api.call("POST", "/api/sessions", {"agentId": agent["id"]})
    assert status == 201
    assert session["status"] == "ACTIVE"
    assert session["metadata"] == {}
    assert session["tags"] == []
    assert session["agent"]["id"] == agent["id"]
    assert session["endedAt"] is None
    full = api.session(agent["id"], metadata={"k": [1, 2]}, tags=["t"], externalId="ext-1")
    assert full["metadata"] == {"k": [1, 2]}
    assert full["tags"] == ["t"]
    assert full["externalId"] == "ext-1"


def test_session_of_unknown_agent_is_404(api: Api) -> None:
    """Creating a session for an agent outside the org answers 404 Agent not found."""
    status, body = api.call("POST", "/api/sessions", {"agentId": str(uuid.uuid4())})
    assert (status, body) == (404, {"error": "Agent not found"})


def test_turn_content_and_columns(api: Api) -> None:
    """String content stays a string; object content, toolCalls and metadata come decoded."""
    session = api.session()
    path = f"/api/sessions/{session['id']}/turns"
    text = api.ok("POST", path, {"role": "USER", "content": "hi"})
    assert text["content"] == "hi"
    assert text["toolCalls"] == []
    assert text["metadata"] == {}
    calls = [{"id": "c1", "name": "lookup", "input": {"q": "x"}}]
    rich = api.ok(
        "POST",
        path,
        {
            "role": "ASSISTANT",
            "content": [{"type": "text", "text": "hé"}],
            "toolCalls": calls,
            "latencyMs": 12,
            "inputTokens": 3,
            "outputTokens": 4,
            "metadata": {"model": "m"},
        },
    )
    assert rich["content"] == [{"type": "text", "text": "hé"}]
    assert rich["toolCalls"] == calls
    assert (rich["latencyMs"], rich["inputTokens"], rich["outputTokens"]) == (12, 3, 4)
    assert set(rich) == {
        "id",
        "sessionId",
        "role",
        "content",
        "toolCalls",
        "latencyMs",
        "inputTokens",
        "outputTokens",
        "metadata",
        "createdAt",
    }


def test_turns_come_back_in_creation_order(api: Api) -> None:
    """A session's turns are returned in the order they were added, even within one millisecond."""
    session = api.session()
    for index in range(30):
        api.ok(
            "POST", f"/api/sessions/{session['id']}/turns", {"role": "USER", "content": str(index)}
        )
    turns = api.ok("GET", f"/api/sessions/{session['id']}")["turns"]
    assert [t["content"] for t in turns] == [str(i) for i in range(30)]


def test_turn_to_unknown_session_is_404(api: Api) -> None:
    """Adding a turn to a session outside the org answers 404 Session not found."""
    status, body = api.call("POST", "/api/sessions/nope/turns", {"role": "USER", "content": "x"})
    assert (status, body) == (404, {"error": "Session not found"})


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"role": "USER"}, ["content"]),
        ({"role": "BOT", "content": "x"}, ["role"]),
        ({"role": "USER", "content": 5}, ["content"]),
        ({"role": "USER", "content": "x", "latencyMs": True}, ["latencyMs"]),
        ({"role": "USER", "content": "x", "latencyMs": 1.5}, ["latencyMs"]),
        ({"role": "USER", "content": "x", "inputTokens": "3"}, ["inputTokens"]),
        ({"role": "USER", "content": "x", "outputTokens": 2**80}, ["outputTokens"]),
        ({"role": "USER", "content": "x", "metadata": []}, ["metadata"]),
        ({"role": "USER", "content": "x", "toolCalls": {}}, ["toolCalls"]),
    ],
)
def test_wrong_types_are_422_with_issues(api: Api, body: Any, path: list[str]) -> None:
    """A body of the wrong shape answers 422 with issues naming the field, and writes nothing."""
    session = api.session()
    status, answer = api.call("POST", f"/api/sessions/{session['id']}/turns", body)
    assert status == 422
    assert answer["error"] == "Validation error"
    assert path in [issue["path"] for issue in answer["issues"]]
    assert api.ok("GET", f"/api/sessions/{session['id']}")["turns"] == []


def test_body_that_is_not_an_object_is_422(api: Api) -> None:
    """A JSON array as a body answers 422."""
    status, answer = api.call("POST", "/api/agents", [1, 2])
    assert status == 422
    assert answer["issues"][0]["path"] == []


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"\xff\xfe", b'{"name": NaN}', b"[" * 100000])
def test_malformed_json_is_400(api: Api, raw: bytes) -> None:
    """Malformed JSON (and NaN, bad UTF-8, absurd nesting) answers 400 with an error body."""
    status, answer, _ = api.raw("POST", "/api/agents", raw)
    assert status == 400
    assert answer == {"error": "Malformed JSON body"}


def test_body_over_5_mb_is_413(api: Api) -> None:
    """A body over 5 MB answers 413, and the connection stays usable."""
    session = api.session()
    big = json.dumps({"role": "USER", "content": "x" * (5 * 1024 * 1024)}).encode()
    status, answer, _ = api.raw("POST", f"/api/sessions/{session['id']}/turns", big)
    assert status == 413
    assert "error" in answer
    assert api.ok("GET", f"/api/sessions/{session['id']}")["turns"] == []


def test_lone_surrogate_text_is_refused_not_500(api: Api) -> None:
    """A string the store cannot encode answers 400 and leaves no half-written record."""
    status, answer, _ = api.raw(
        "POST", "/api/agents/get-or-create", b'{"name": "bad \\ud800 name"}'
    )
    assert status == 400
    assert "error" in answer
    assert api.ok("GET", "/api/agents") == []


def test_unknown_fields_are_stripped(api: Api) -> None:
    """Unknown body fields are ignored, never stored or echoed."""
    agent = api.ok("POST", "/api/agents", {"name": "A", "slug": "a", "bogus": 1, "orgId": "x"})
    assert "bogus" not in agent
    assert agent["orgId"] != "x"


def test_body_limit_is_exactly_5_mb(api: Api) -> None:
    """A body of exactly 5,242,880 bytes is accepted; one byte more answers 413."""
    limit = 5 * 1024 * 1024
    head = b'{"name": "Edge Bot"}'
    at_limit = head + b" " * (limit - len(head))  # JSON whitespace: cheap to parse and store
    assert len(at_limit) == 5_242_880
    status, agent, _ = api.raw("POST", "/api/agents/get-or-create", at_limit)
    assert status == 201, agent
    assert agent["name"] == "Edge Bot"
    status, answer, _ = api.raw("POST", "/api/agents/get-or-create", at_limit + b" ")
    assert status == 413
    assert "error" in answer


def test_orgs_are_isolated(api: Api, other_api: Api) -> None:
    """Another org's agents, sessions and suites answer 404 and never show in lists."""
    session = api.session()
    suite = api.ok("POST", "/api/evals/suites", {"name": "s"})
    agent_id = session["agentId"]
    for method, path, body in [
        ("GET", f"/api/agents/{agent_id}", None),
        ("PATCH", f"/api/agents/{agent_id}", {"name": "stolen"}),
        ("DELETE", f"/api/agents/{agent_id}", None),
        ("GET", f"/api/sessions/{session['id']}", None),
        ("POST", f"/api/sessions/{session['id']}/turns", {"role": "USER", "content": "x"}),
        ("POST", f"/api/sessions/{session['id']}/end", {}),
        (
            "PATCH",
            f"/api/sessions/{session['id']}",
            {"status": "FAILED", "metadata": {"stolen": True}, "userId": "thief"},
        ),
        ("DELETE", f"/api/sessions/{session['id']}", None),
        ("GET", f"/api/evals/suites/{suite['id']}", None),
        ("POST", "/api/sessions", {"agentId": agent_id}),
    ]:
        status, _ = other_api.call(method, path, body)
        assert status == 404, (method, path)
    assert other_api.ok("GET", "/api/agents") == []
    assert other_api.ok("GET", "/api/sessions") == []
    assert other_api.ok("GET", "/api/evals/suites") == []
    kept = api.ok("GET", f"/api/sessions/{session['id']}")
    assert kept["turns"] == []
    for key in ("status", "endedAt", "metadata", "userId", "updatedAt"):
        assert kept[key] == session[key], key
    assert other_api.agent("Support Bot")["id"] != agent_id


def test_sessions_list_newest_first_with_counts_and_filters(api: Api) -> None:
    """Sessions are listed newest first with agent and _count.turns, filtered by query."""
    bot = api.agent("Bot")
    other = api.agent("Other")
    first = api.session(bot["id"])
    second = api.session(other["id"])
    api.ok(
        "POST", f"/api/sessions/{first['id']}/turns", {"role": "USER", "content": "find the needle"}
    )
    listed = api.ok("GET", "/api/sessions")
    assert [s["id"] for s in listed] == [second["id"], first["id"]]
    assert listed[1]["_count"] == {"turns": 1}
    assert listed[1]["agent"]["name"] == "Bot"
    assert [s["id"] for s in api.ok("GET", f"/api/sessions?agentId={bot['id']}")] == [first["id"]]
    assert [s["id"] for s in api.ok("GET", "/api/sessions?q=needle")] == [first["id"]]
    assert api.ok("GET", "/api/sessions?q=haystack") == []
    assert api.ok("GET", "/api/sessions?status=COMPLETED") == []


def test_sessions_list_caps_at_100(api: Api) -> None:
    """At most 100 sessions are listed."""
    agent = api.agent()
    for _ in range(105):
        api.session(agent["id"])
    assert len(api.ok("GET", "/api/sessions")) == 100


@pytest.mark.parametrize("status", [None, "COMPLETED", "FAILED", "CANCELLED"])
def test_end_session_by_post(api: Api, status: Any) -> None:
    """POST /end sets endedAt and the given status (COMPLETED by default) and sums the totals."""
    session = api.session()
    api.ok(
        "POST",
        f"/api/sessions/{session['id']}/turns",
        {"role": "ASSISTANT", "content": "x", "inputTokens": 3, "outputTokens": 4, "latencyMs": 9},
    )
    body = {} if status is None else {"status": status}
    ended = api.ok("POST", f"/api/sessions/{session['id']}/end", body)
    assert ended["status"] == (status or "COMPLETED")
    assert ISO_MS.match(ended["endedAt"])
    assert (ended["totalTokens"], ended["totalLatencyMs"]) == (7, 9)
    explicit = api.ok("POST", f"/api/sessions/{session['id']}/end", {"totalTokens": 100})
    assert explicit["totalTokens"] == 100
    assert explicit["status"] == (status or "COMPLETED")
    assert explicit["endedAt"] == ended["endedAt"]


def test_end_session_by_patch(api: Api) -> None:
    """PATCH with status and endedAt (the older SDKs' call) ends the session too."""
    session = api.session()
    ended = api.ok(
        "PATCH",
        f"/api/sessions/{session['id']}",
        {"status": "FAILED", "endedAt": "2026-11-26T10:00:00+01:00"},
    )
    assert ended["status"] == "FAILED"
    assert ended["endedAt"] == "2026-11-26T09:00:00.000Z"
    status, _ = api.call("PATCH", f"/api/sessions/{session['id']}", {"status": "DONE"})
    assert status == 422


def test_delete_session(api: Api) -> None:
    """DELETE removes a session and answers success; it is then 404."""
    session = api.session()
    assert api.ok("DELETE", f"/api/sessions/{session['id']}") == {"success": True}
    assert api.call("GET", f"/api/sessions/{session['id']}")[0] == 404


def test_idempotency_key_answers_the_first_result(api: Api) -> None:
    """The same Idempotency-Key replays the first answer without writing twice."""
    session = api.session()
    path = f"/api/sessions/{session['id']}/turns"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.call("POST", path, {"role": "USER", "content": "once"}, headers=key)
    again = api.call("POST", path, {"role": "USER", "content": "once"}, headers=key)
    assert first == again
    assert first[0] == 201
    assert len(api.ok("GET", f"/api/sessions/{session['id']}")["turns"]) == 1
    api.call("POST", path, {"role": "USER", "content": "other"}, headers={"Idempotency-Key": "2"})
    assert len(api.ok("GET", f"/api/sessions/{session['id']}")["turns"]) == 2


def test_repeated_delete_with_the_same_key_answers_the_first_result(api: Api) -> None:
    """A DELETE repeated with the same Idempotency-Key answers the first 200, not 404."""
    session = api.session()
    path = f"/api/sessions/{session['id']}"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.raw("DELETE", path, headers=key)
    again = api.raw("DELETE", path, headers=key)
    assert first[:2] == again[:2] == (200, {"success": True})
    assert again[2].get("idempotent-replayed") == "true"
    assert api.call("DELETE", path, headers={"Idempotency-Key": str(uuid.uuid4())})[0] == 404
    assert api.call("GET", path)[0] == 404


def test_idempotency_keys_survive_a_restart(tmp_path: Any) -> None:
    """A key used before a restart still replays after it (the keys live in the database)."""
    from provenant.server import start_server

    db = str(tmp_path / "p.db")
    key = "pk_live_" + "1" * 32
    header = {"Idempotency-Key": "same"}
    with start_server(db, api_keys=[key]) as server:
        api = Api(server.url, key)
        session = api.session()
        path = f"/api/sessions/{session['id']}/turns"
        first = api.call("POST", path, {"role": "USER", "content": "x"}, headers=header)
        api.close()
    with start_server(db, api_keys=[key]) as server:
        api = Api(server.url, key)
        assert api.call("POST", path, {"role": "USER", "content": "x"}, headers=header) == first
        assert len(api.ok("GET", f"/api/sessions/{session['id']}")["turns"]) == 1
        api.close()


def test_failed_write_is_not_remembered_by_idempotency(api: Api) -> None:
    """A refused write with a key does not block a later good write with the same key."""
    header = {"Idempotency-Key": "retry-me"}
    status, _ = api.call("POST", "/api/agents", {"name": ""}, headers=header)
    assert status == 422
    status, _ = api.call("POST", "/api/agents", {"name": "n", "slug": "n"}, headers=header)
    assert status == 201


def test_eval_flow_completes_the_run(api: Api) -> None:
    """Results complete the run with passRate (passed / all) and score (the mean)."""
    agent = api.agent()
    suite = api.ok("POST", "/api/evals/suites", {"name": "qa"})
    cases = [
        api.ok(
            "POST",
            f"/api/evals/suites/{suite['id']}/cases",
            {"name": f"c{i}", "input": {"q": i}, "expectedOutput": {"a": i}},
        )
        for i in range(4)
    ]
    assert cases[0]["scoringFn"] == "exact_match"
    assert cases[0]["weight"] == 1.0
    assert cases[0]["input"] == {"q": 0}
    run = api.ok("POST", "/api/evals/runs", {"suiteId": suite["id"], "agentId": agent["id"]})
    assert run["status"] == "QUEUED"
    results = [
        {
            "caseId": c["id"],
            "passed": i < 3,
            "score": [1.0, 1.0, 0.5, 0.0][i],
            "actualOutput": {"a": i},
        }
        for i, c in enumerate(cases)
    ]
    assert api.ok("POST", f"/api/evals/runs/{run['id']}/results", {"results": results}) == {
        "created": 4
    }
    done = api.ok("GET", f"/api/evals/runs/{run['id']}")
    assert done["status"] == "COMPLETED"
    assert done["passRate"] == 0.75
    assert done["score"] == 0.625
    assert [r["case"]["id"] for r in done["results"]] == [c["id"] for c in cases]
    assert done["results"][0]["actualOutput"] == {"a": 0}
    assert [r["id"] for r in api.ok("GET", f"/api/evals/runs?suiteId={suite['id']}")] == [run["id"]]
    assert len(api.ok("GET", f"/api/evals/suites/{suite['id']}")["cases"]) == 4


def test_empty_results_are_422_and_leave_the_run_queued(api: Api) -> None:
    """Submitting `results: []` answers 422 with an issue and never completes the run."""
    agent = api.agent()
    suite = api.ok("POST", "/api/evals/suites", {"name": "qa"})
    api.ok("POST", f"/api/evals/suites/{suite['id']}/cases", {"name": "c", "input": {}})
    run = api.ok("POST", "/api/evals/runs", {"suiteId": suite["id"], "agentId": agent["id"]})
    status, answer = api.call("POST", f"/api/evals/runs/{run['id']}/results", {"results": []})
    assert status == 422
    assert answer["error"] == "Validation error"
    assert [(i["code"], i["path"]) for i in answer["issues"]] == [("too_small", ["results"])]
    after = api.ok("GET", f"/api/evals/runs/{run['id']}")
    assert (after["status"], after["passRate"], after["completedAt"]) == ("QUEUED", None, None)


def test_unknown_or_foreign_suites_and_runs_answer_not_found(api: Api, other_api: Api) -> None:
    """An unknown or another org's suite or run answers the contract's 404 "Not found"."""
    agent = api.agent()
    suite = api.ok("POST", "/api/evals/suites", {"name": "qa"})
    case = api.ok("POST", f"/api/evals/suites/{suite['id']}/cases", {"name": "c", "input": {}})
    run = api.ok("POST", "/api/evals/runs", {"suiteId": suite["id"], "agentId": agent["id"]})
    other_agent = other_api.agent()
    missing = str(uuid.uuid4())
    for caller, agent_id, suite_id, run_id in [
        (api, agent["id"], missing, missing),
        (other_api, other_agent["id"], suite["id"], run["id"]),
    ]:
        for method, path, body in [
            ("GET", f"/api/evals/suites/{suite_id}", None),
            ("POST", f"/api/evals/suites/{suite_id}/cases", {"name": "c", "input": {}}),
            ("POST", "/api/evals/runs", {"suiteId": suite_id, "agentId": agent_id}),
            ("GET", f"/api/evals/runs/{run_id}", None),
            ("POST", f"/api/evals/runs/{run_id}/results", {"results": [{"caseId": case["id"]}]}),
        ]:
            assert caller.call(method, path, body) == (404, {"error": "Not found"}), (method, path)
    assert api.ok("GET", f"/api/evals/runs/{run['id']}")["status"] == "QUEUED"


def test_results_for_foreign_cases_are_422_and_write_nothing(api: Api) -> None:
    """A result naming a case outside the run's suite refuses the whole submission."""
    agent = api.agent()
    suite = api.ok("POST", "/api/evals/suites", {"name": "qa"})
    case = api.ok("POST", f"/api/evals/suites/{suite['id']}/cases", {"name": "c", "input": {}})
    run = api.ok("POST", "/api/evals/runs", {"suiteId": suite["id"], "agentId": agent["id"]})
    body = {"results": [{"caseId": case["id"], "passed": True}, {"caseId": "nope"}]}
    status, answer = api.call("POST", f"/api/evals/runs/{run['id']}/results", body)
    assert status == 422
    assert answer["issues"][0]["path"] == ["results", 1, "caseId"]
    assert api.ok("GET", f"/api/evals/runs/{run['id']}")["results"] == []


def test_unknown_route_is_404_and_wrong_method_405(api: Api) -> None:
    """An unknown path answers 404; a known path with another method answers 405."""
    assert api.call("GET", "/api/nothing")[0] == 404
    assert api.call("PUT", "/api/agents")[0] == 405


def test_spec_documents_every_route(anon_api: Api) -> None:
    """GET /api/docs/spec is an OpenAPI 3 document naming every route of the contract."""
    status, spec = anon_api.call("GET", "/api/docs/spec")
    assert status == 200
    assert spec["openapi"].startswith("3.")
    expected = {
        "/api/agents": {"get", "post"},
        "/api/agents/get-or-create": {"post"},
        "/api/agents/{id}": {"get", "patch", "delete"},
        "/api/sessions": {"get", "post"},
        "/api/sessions/{id}": {"get", "patch", "delete"},
        "/api/sessions/{id}/turns": {"post"},
        "/api/sessions/{id}/end": {"post"},
        "/api/sessions/{id}/stream": {"get"},
        "/api/evals/suites": {"get", "post"},
        "/api/evals/suites/{id}": {"get"},
        "/api/evals/suites/{id}/cases": {"post"},
        "/api/evals/runs": {"get", "post"},
        "/api/evals/runs/{id}": {"get"},
        "/api/evals/runs/{id}/results": {"post"},
    }
    for path, methods in expected.items():
        assert set(spec["paths"][path]) == methods, path


def test_spec_bounds_a_runs_pass_rate_to_0_1(anon_api: Api) -> None:
    """The spec says a run's passRate is a nullable number from 0 to 1."""
    schemas = anon_api.call("GET", "/api/docs/spec")[1]["components"]["schemas"]
    for name in ("Run", "RunDetail"):
        pass_rate = schemas[name]["properties"]["passRate"]
        assert pass_rate == {"type": "number", "nullable": True, "minimum": 0, "maximum": 1}


def test_numbers_beyond_double_range_are_400(api: Api) -> None:
    """A JSON number that overflows a double (1e400) is refused as malformed, not stored as inf."""
    session = api.session()
    raw = b'{"role": "USER", "content": "x", "metadata": {"n": 1e400}}'
    status, answer, _ = api.raw("POST", f"/api/sessions/{session['id']}/turns", raw)
    assert (status, answer) == (400, {"error": "Malformed JSON body"})


def test_totals_and_means_of_huge_numbers_stay_finite(api: Api) -> None:
    """Session totals and run scores of huge values never overflow into a 500 or a non-JSON inf."""
    session = api.session()
    big = 2**53 - 1
    for _ in range(3):
        api.ok(
            "POST",
            f"/api/sessions/{session['id']}/turns",
            {"role": "ASSISTANT", "content": "x", "inputTokens": big, "outputTokens": big},
        )
    ended = api.ok("POST", f"/api/sessions/{session['id']}/end", {})
    assert ended["totalTokens"] == big
    agent = api.agent()
    suite = api.ok("POST", "/api/evals/suites", {"name": "huge"})
    case = api.ok("POST", f"/api/evals/suites/{suite['id']}/cases", {"name": "c", "input": {}})
    run = api.ok("POST", "/api/evals/runs", {"suiteId": suite["id"], "agentId": agent["id"]})
    results = [{"caseId": case["id"], "score": 1.5e308, "passed": True}] * 2
    api.ok("POST", f"/api/evals/runs/{run['id']}/results", {"results": results})
    assert api.ok("GET", f"/api/evals/runs/{run['id']}")["score"] == 1.5e308
