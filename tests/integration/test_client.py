"""Every REST method of ProvenantClient, on the real local server and on the embedded store."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

import pytest

from provenant import ProvenantClient
from provenant.errors import EvalTimeoutError, NotFoundError, ValidationError
from provenant.server import LocalServer


def _new_client(destination: str, server: LocalServer, directory: Path) -> ProvenantClient:
    if destination == "http":
        return ProvenantClient(base_url=server.url, api_key=server.create_api_key(), enabled=False)
    return ProvenantClient(base_url=f"sqlite:///{directory / 'store.db'}", enabled=False)


@pytest.fixture(params=["http", "local"])
def client(
    request: pytest.FixtureRequest, provenant_server: LocalServer, tmp_path: Path
) -> Iterator[ProvenantClient]:
    """A client of a fresh org on the local server, or of a fresh embedded store."""
    new = _new_client(request.param, provenant_server, tmp_path)
    try:
        yield new
    finally:
        new.shutdown()


# -- agents ---------------------------------------------------------------------------------


def test_create_agent_derives_the_slug_and_decodes_tags(client: ProvenantClient) -> None:
    """create_agent derives the slug from the name and answers tags as a list."""
    agent = client.create_agent(
        "Support Bot 2!", description="helps", tags=["a", "b"], model_family="claude"
    )
    assert agent["slug"] == "support-bot-2"
    assert agent["name"] == "Support Bot 2!"
    assert agent["tags"] == ["a", "b"]
    assert agent["description"] == "helps"
    assert agent["modelFamily"] == "claude"
    assert agent["status"] == "ACTIVE"
    assert uuid.UUID(agent["id"]).version == 4


def test_get_or_create_agent_is_keyed_by_slug(client: ProvenantClient) -> None:
    """The same name, or a name with the same slug, always yields the same agent id."""
    first = client.get_or_create_agent("Research Agent")
    assert client.get_or_create_agent("Research Agent") == first
    assert client.get_or_create_agent("research   agent!!") == first
    assert client.get_or_create_agent("Other Agent") != first
    assert client.resolve_agent_id("Research Agent") == first
    assert client.resolve_agent_id(first) == first


def test_list_and_get_agents(client: ProvenantClient) -> None:
    """list_agents answers the org's agents and get_agent one of them with versions and _count."""
    old = client.get_or_create_agent("Old")
    new = client.get_or_create_agent("New")
    listed = client.list_agents()
    assert {agent["id"] for agent in listed} == {old, new}
    assert all(isinstance(agent["tags"], list) for agent in listed)
    agent = client.get_agent(old)
    assert agent["id"] == old
    assert "versions" in agent and "_count" in agent


def test_get_agent_unknown_is_not_found(client: ProvenantClient) -> None:
    """An unknown agent id raises NotFoundError with status 404."""
    with pytest.raises(NotFoundError) as caught:
        client.get_agent(str(uuid.uuid4()))
    assert caught.value.status_code == 404


def test_invalid_slug_is_a_validation_error(client: ProvenantClient) -> None:
    """A slug outside ^[a-z0-9-]+$ raises ValidationError with the server's issues."""
    with pytest.raises(ValidationError) as caught:
        client.create_agent("Fine", slug="Not A Slug")
    assert caught.value.status_code == 422
    assert caught.value.issues


# -- sessions and turns ------------------------------------------------------------------------


def test_create_session_sends_every_field(client: ProvenantClient) -> None:
    """create_session stores every field and answers metadata and tags decoded, with the agent."""
    agent_id = client.get_or_create_agent("Bot")
    session = client.create_session(
        agent_id,
        external_id="conv-1",
        user_id="u1",
        metadata={"plan": "pro", "n": 2},
        tags=["beta"],
    )
    assert session["agentId"] == agent_id
    assert session["externalId"] == "conv-1"
    assert session["userId"] == "u1"
    assert session["metadata"] == {"plan": "pro", "n": 2}
    assert session["tags"] == ["beta"]
    assert session["status"] == "ACTIVE"
    assert session["agent"]["id"] == agent_id


def test_create_session_resolves_an_agent_name(client: ProvenantClient) -> None:
    """An agent name given to create_session is resolved (created once) to its id."""
    session = client.create_session("Named Agent")
    assert session["agentId"] == client.get_or_create_agent("Named Agent")


def test_create_session_defaults(client: ProvenantClient) -> None:
    """A session created with only an agent answers empty metadata and tags."""
    session = client.create_session(client.get_or_create_agent("Bot"))
    assert session["metadata"] == {}
    assert session["tags"] == []
    assert session["endedAt"] is None


def test_create_session_for_an_unknown_agent_is_not_found(client: ProvenantClient) -> None:
    """A session of an agent outside the org raises NotFoundError."""
    with pytest.raises(NotFoundError, match="Agent not found"):
        client.create_session(str(uuid.uuid4()))


def test_turns_round_trip_with_decoded_columns(client: ProvenantClient) -> None:
    """Turns keep text and object content, tool calls, tokens and latency, in order."""
    session = client.create_session(client.get_or_create_agent("Bot"))
    sid = session["id"]
    client.add_turn(sid, "user", "What is 2+2?")
    tool_calls = [{"id": "t1", "name": "add", "input": {"a": 2, "b": 2}}]
    assistant = client.add_turn(
        sid,
        "ASSISTANT",
        [{"type": "text", "text": "Let me add."}],
        tool_calls=tool_calls,
        latency_ms=120,
        input_tokens=10,
        output_tokens=5,
        metadata={"model": "m", "provider": "p"},
    )
    assert assistant["toolCalls"] == tool_calls
    assert assistant["metadata"] == {"model": "m", "provider": "p"}
    client.add_turn(sid, "TOOL", {"result": 4})
    fetched = client.get_session(sid)
    roles = [turn["role"] for turn in fetched["turns"]]
    assert roles == ["USER", "ASSISTANT", "TOOL"]
    user, reply, tool = fetched["turns"]
    assert user["content"] == "What is 2+2?"
    assert user["toolCalls"] == []
    assert reply["content"] == [{"type": "text", "text": "Let me add."}]
    assert reply["toolCalls"] == tool_calls
    assert (reply["latencyMs"], reply["inputTokens"], reply["outputTokens"]) == (120, 10, 5)
    assert tool["content"] == {"result": 4}


def test_add_turn_refuses_an_unknown_role(client: ProvenantClient) -> None:
    """add_turn raises ValueError for a role that is not one of the four, before any request."""
    with pytest.raises(ValueError, match=r"ROBOT|robot"):
        client.add_turn(str(uuid.uuid4()), "robot", "hi")


def test_add_turn_to_an_unknown_session_is_not_found(client: ProvenantClient) -> None:
    """A turn for an unknown session raises NotFoundError."""
    with pytest.raises(NotFoundError, match="Session not found"):
        client.add_turn(str(uuid.uuid4()), "USER", "hi")


def test_add_turn_with_wrong_types_is_a_validation_error(client: ProvenantClient) -> None:
    """A turn whose latency is not an integer raises ValidationError with issues."""
    session = client.create_session(client.get_or_create_agent("Bot"))
    with pytest.raises(ValidationError) as caught:
        client.add_turn(session["id"], "USER", "hi", latency_ms="slow")  # type: ignore[arg-type]
    assert caught.value.issues


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "cancelled"])
def test_end_session_sets_status_and_totals(client: ProvenantClient, status: str) -> None:
    """end_session ends the session with the given status and stores the totals."""
    session = client.create_session(client.get_or_create_agent("Bot"))
    ended = client.end_session(session["id"], status, total_tokens=42, total_latency_ms=900)
    assert ended["status"] == status.upper()
    assert ended["endedAt"]
    assert ended["totalTokens"] == 42
    assert ended["totalLatencyMs"] == 900
    assert client.get_session(session["id"])["status"] == status.upper()


def test_end_session_refuses_an_unknown_status(client: ProvenantClient) -> None:
    """end_session raises ValueError for a status it cannot send."""
    with pytest.raises(ValueError, match=r"DONE|done"):
        client.end_session(str(uuid.uuid4()), "done")


def test_list_sessions_filters(client: ProvenantClient) -> None:
    """list_sessions filters by agent, status and turn content, newest first, with turn counts."""
    bot = client.get_or_create_agent("Bot")
    other = client.get_or_create_agent("Other")
    first = client.create_session(bot)["id"]
    second = client.create_session(bot)["id"]
    third = client.create_session(other)["id"]
    client.add_turn(first, "USER", "find the needle here")
    client.add_turn(first, "ASSISTANT", "ok")
    client.end_session(second)
    assert [s["id"] for s in client.list_sessions()] == [third, second, first]
    assert {s["id"] for s in client.list_sessions(bot)} == {first, second}
    assert [s["id"] for s in client.list_sessions(status="COMPLETED")] == [second]
    found = client.list_sessions(q="needle")
    assert [s["id"] for s in found] == [first]
    assert found[0]["_count"]["turns"] == 2
    assert found[0]["agent"]["name"] == "Bot"
    assert client.list_sessions(q="nothing like this") == []


def test_delete_session(client: ProvenantClient) -> None:
    """delete_session answers success and the session is gone afterwards."""
    session = client.create_session(client.get_or_create_agent("Bot"))
    client.add_turn(session["id"], "USER", "bye")
    assert client.delete_session(session["id"]) == {"success": True}
    with pytest.raises(NotFoundError):
        client.get_session(session["id"])


def test_delete_session_retried_after_a_lost_answer_answers_success(
    provenant_server: LocalServer, provenant_api_key: str, provenant_client: ProvenantClient
) -> None:
    """A DELETE whose answer was lost is retried with the same Idempotency-Key and succeeds."""
    session_id = provenant_client.create_session(provenant_client.get_or_create_agent("Bot"))["id"]
    upstream = urlsplit(provenant_server.url)
    keys: list[Optional[str]] = []

    class LoseTheFirstAnswer(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_DELETE(self) -> None:
            keys.append(self.headers.get("Idempotency-Key"))
            forwarded = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn = http.client.HTTPConnection(upstream.hostname or "", upstream.port, timeout=10)
            conn.request("DELETE", self.path, headers=forwarded)
            answer = conn.getresponse()
            data = answer.read()
            conn.close()
            if len(keys) == 1:  # the server deleted it, but its answer never arrives
                self.close_connection = True
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LoseTheFirstAnswer)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    client = ProvenantClient(
        base_url=f"http://127.0.0.1:{proxy.server_address[1]}",
        api_key=provenant_api_key,
        enabled=False,
    )
    try:
        assert client.delete_session(session_id) == {"success": True}
    finally:
        client.shutdown()
        proxy.shutdown()
        proxy.server_close()
    assert len(keys) == 2
    assert keys[0] is not None and keys[0] == keys[1]
    with pytest.raises(NotFoundError):
        provenant_client.get_session(session_id)


def test_ids_cannot_change_the_route(client: ProvenantClient) -> None:
    """An id holding a slash or a query is sent as one path segment and simply not found."""
    client.get_or_create_agent("Bot")
    with pytest.raises(NotFoundError):
        client.get_session("../agents")
    with pytest.raises(NotFoundError):
        client.get_agent("x?y=1")


def test_many_threads_share_one_client(client: ProvenantClient) -> None:
    """Four threads adding turns through one client keep every session's turns in order."""
    agent_id = client.get_or_create_agent("Bot")
    session_ids = [client.create_session(agent_id)["id"] for _ in range(4)]
    errors: list[BaseException] = []

    def work(session_id: str) -> None:
        try:
            for index in range(25):
                client.add_turn(session_id, "USER", f"message {index}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(sid,)) for sid in session_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for session_id in session_ids:
        contents = [turn["content"] for turn in client.get_session(session_id)["turns"]]
        assert contents == [f"message {index}" for index in range(25)]


# -- evals ----------------------------------------------------------------------------------------


def _suite_with_cases(client: ProvenantClient) -> tuple[str, list[str]]:
    suite = client.create_eval_suite("Arithmetic", description="sums", tags=["math"])
    cases = [
        client.add_eval_case(suite["id"], "two", {"q": "1+1"}, {"a": "2"}),
        client.add_eval_case(
            suite["id"], "four", {"q": "2+2"}, {"a": "4"}, scoring_fn="contains", weight=2.0
        ),
    ]
    return suite["id"], [case["id"] for case in cases]


def test_eval_suites_and_cases(client: ProvenantClient) -> None:
    """Suites are created, listed and fetched with their cases, payloads decoded."""
    suite_id, case_ids = _suite_with_cases(client)
    assert [suite["id"] for suite in client.list_eval_suites()] == [suite_id]
    suite = client.get_eval_suite(suite_id)
    assert suite["name"] == "Arithmetic"
    assert suite["tags"] == ["math"]
    cases = {case["id"]: case for case in suite["cases"]}
    assert set(cases) == set(case_ids)
    two, four = cases[case_ids[0]], cases[case_ids[1]]
    assert two["input"] == {"q": "1+1"}
    assert two["expectedOutput"] == {"a": "2"}
    assert two["scoringFn"] == "exact_match"
    assert two["weight"] == 1.0
    assert (four["scoringFn"], four["weight"]) == ("contains", 2.0)


def test_eval_run_lifecycle(client: ProvenantClient) -> None:
    """A run starts QUEUED and, once results are submitted, completes with pass rate and score."""
    suite_id, (two, four) = _suite_with_cases(client)
    agent_id = client.get_or_create_agent("Bot")
    run = client.create_eval_run(suite_id, agent_id, metadata={"commit": "abc"})
    assert run["status"] == "QUEUED"
    assert run["metadata"] == {"commit": "abc"}
    assert [r["id"] for r in client.list_eval_runs(suite_id=suite_id)] == [run["id"]]
    assert [r["id"] for r in client.list_eval_runs(agent_id=agent_id)] == [run["id"]]
    answer = client.submit_results(
        run["id"],
        [
            {"caseId": two, "output": {"a": "2"}, "passed": True, "score": 1.0, "latencyMs": 5},
            {"case_id": four, "actual_output": {"a": "5"}, "passed": False, "score": 0.0},
        ],
    )
    assert answer == {"created": 2}
    done = client.wait_for_completion(run["id"], poll_interval_seconds=0.01, timeout_seconds=5)
    assert done["status"] == "COMPLETED"
    assert done["passRate"] == 0.5
    assert done["score"] == 0.5
    results = {result["caseId"]: result for result in done["results"]}
    assert results[two]["actualOutput"] == {"a": "2"}
    assert results[four]["actualOutput"] == {"a": "5"}
    assert results[two]["latencyMs"] == 5
    assert results[two]["case"]["input"] == {"q": "1+1"}


def test_submit_results_loses_nothing(client: ProvenantClient) -> None:
    """Keys that are not wire fields travel in the result's metadata instead of being dropped."""
    suite_id, (two, _four) = _suite_with_cases(client)
    run = client.create_eval_run(suite_id, "Bot")
    client.submit_results(
        run["id"],
        [{"caseId": two, "output": "2", "passed": True, "metadata": {"a": 1}, "judge": "gpt"}],
    )
    result = client.get_eval_run(run["id"])["results"][0]
    assert result["actualOutput"] == "2"
    assert result["metadata"] == {"a": 1, "judge": "gpt"}


def test_submit_results_refuses_contradictions() -> None:
    """A result with no caseId, or with output and actualOutput differing, raises ValueError."""
    client = ProvenantClient(base_url="http://127.0.0.1:9", api_key="pk_live_x", enabled=False)
    with pytest.raises(ValueError, match="caseId"):
        client.submit_results("r", [{"output": 1}])
    with pytest.raises(ValueError, match="actualOutput"):
        client.submit_results("r", [{"caseId": "c", "output": 1, "actualOutput": 2}])
    client.shutdown()


def test_wait_for_completion_times_out(client: ProvenantClient) -> None:
    """A run that never completes raises EvalTimeoutError naming the run and its last status."""
    suite_id, _cases = _suite_with_cases(client)
    run = client.create_eval_run(suite_id, "Bot")
    with pytest.raises(EvalTimeoutError) as caught:
        client.wait_for_completion(run["id"], poll_interval_seconds=0.01, timeout_seconds=0.1)
    assert caught.value.run_id == run["id"]
    assert caught.value.last_status == "QUEUED"
    assert isinstance(caught.value, TimeoutError)


class _StopPolling(Exception):
    pass


@pytest.mark.parametrize(
    ("first", "expected"),
    [(1.0, [1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0, 10.0]), (20.0, [20.0] * 8)],
)
def test_wait_for_completion_waits_never_shrink(
    client: ProvenantClient,
    monkeypatch: pytest.MonkeyPatch,
    first: float,
    expected: list[float],
) -> None:
    """Polling a QUEUED run waits half again as long each time, up to 10 s, and never less."""
    suite_id, _cases = _suite_with_cases(client)
    run = client.create_eval_run(suite_id, "Bot")
    real_sleep = time.sleep
    polling_thread = threading.current_thread()
    waits: list[float] = []

    def record(seconds: float) -> None:
        if threading.current_thread() is not polling_thread:  # the server's own threads
            real_sleep(seconds)
            return
        waits.append(seconds)
        if len(waits) == len(expected):
            raise _StopPolling

    monkeypatch.setattr("provenant._rest._evals.time.sleep", record)
    with pytest.raises(_StopPolling):
        client.wait_for_completion(run["id"], poll_interval_seconds=first, timeout_seconds=300)
    assert waits == pytest.approx(expected)
    assert client.get_eval_run(run["id"])["status"] == "QUEUED"


def test_get_eval_run_unknown_is_not_found(client: ProvenantClient) -> None:
    """An unknown run id raises NotFoundError."""
    with pytest.raises(NotFoundError):
        client.get_eval_run(str(uuid.uuid4()))


# -- the same shape on both destinations -----------------------------------------------------


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def _record_everything(client: ProvenantClient) -> dict[str, Any]:
    agent_id = client.get_or_create_agent("Bot")
    session = client.create_session(agent_id, user_id="u", metadata={"k": "v"}, tags=["t"])
    turn = client.add_turn(
        session["id"],
        "ASSISTANT",
        "hi",
        tool_calls=[{"id": "1", "name": "f", "input": {}}],
        latency_ms=1,
        input_tokens=2,
        output_tokens=3,
        metadata={"m": 1},
    )
    ended = client.end_session(session["id"], total_tokens=5, total_latency_ms=6)
    suite_id, (two, _four) = _suite_with_cases(client)
    run = client.create_eval_run(suite_id, agent_id)
    submitted = client.submit_results(
        run["id"], [{"caseId": two, "output": "2", "passed": True, "score": 1.0}]
    )
    return {
        "agent": client.get_agent(agent_id),
        "agents": client.list_agents(),
        "session": session,
        "turn": turn,
        "ended": ended,
        "fetched": client.get_session(session["id"]),
        "sessions": client.list_sessions(),
        "suite": client.get_eval_suite(suite_id),
        "suites": client.list_eval_suites(),
        "run": run,
        "runs": client.list_eval_runs(),
        "submitted": submitted,
        "completed": client.get_eval_run(run["id"]),
    }


def test_both_destinations_answer_the_same_shape(
    provenant_server: LocalServer, tmp_path: Path
) -> None:
    """Every method answers the same keys and value types over HTTP and on the embedded store."""
    answers = {}
    for destination in ("http", "local"):
        client = _new_client(destination, provenant_server, tmp_path)
        try:
            answers[destination] = _shape(_record_everything(client))
        finally:
            client.shutdown()
    assert answers["http"] == answers["local"]


def test_a_name_without_slug_characters_still_gets_one_agent(client: ProvenantClient) -> None:
    """create_agent and get_or_create_agent agree on the slug of a name with no [a-z0-9] in it."""
    created = client.create_agent("客服")
    assert created["slug"].startswith("agent-")
    assert client.get_or_create_agent("客服") == created["id"]


def test_the_original_readme_snippets_run_unchanged(
    provenant_server: LocalServer, provenant_api_key: str
) -> None:
    """The REST snippets of the platform's original README run as written through provenant_sdk."""
    from provenant_sdk import ProvenantClient as CompatClient

    prov = CompatClient(base_url=provenant_server.url, api_key=provenant_api_key)
    agent_id = prov.get_or_create_agent("My Support Bot")
    assert prov.get_or_create_agent("My Support Bot") == agent_id

    session = prov.create_session(agent_id=agent_id, user_id="u1")
    prov.add_turn(session["id"], role="USER", content="Hello")
    prov.add_turn(
        session["id"],
        role="ASSISTANT",
        content="Hi there!",
        latency_ms=342,
        input_tokens=10,
        output_tokens=8,
    )
    prov.end_session(session["id"])
    stored = prov.get_session(session["id"])
    assert stored["status"] == "COMPLETED"
    assert [turn["content"] for turn in stored["turns"]] == ["Hello", "Hi there!"]

    suite = prov.create_eval_suite("README suite")
    case = prov.add_eval_case(suite["id"], "greets", {"text": "hi"}, {"text": "hello"})
    your_test_cases = [{"id": case["id"], "input": {"text": "hi"}, "expected": {"text": "hello"}}]
    run = prov.create_eval_run(suite_id=suite["id"], agent_id=agent_id)
    results = []
    for item in your_test_cases:
        output = {"text": "hello"}
        results.append(
            {
                "caseId": item["id"],
                "output": output,  # the original README's spelling
                "passed": output == item["expected"],
                "latencyMs": 120,
            }
        )
    prov.submit_results(run["id"], results)
    completed = prov.wait_for_completion(run["id"], poll_interval_seconds=0.05)
    print(f"Score: {completed['score']}, Pass rate: {completed['passRate']}")
    assert completed["passRate"] == 1.0
    assert completed["status"] == "COMPLETED"
    prov.shutdown()
    # The server stored README's `output` as the contract's actualOutput.
    upstream = urlsplit(provenant_server.url)
    conn = http.client.HTTPConnection(upstream.hostname or "", upstream.port, timeout=10)
    conn.request(
        "GET",
        f"/api/evals/runs/{run['id']}",
        headers={"Authorization": f"Bearer {provenant_api_key}"},
    )
    (stored_result,) = json.loads(conn.getresponse().read())["results"]
    conn.close()
    assert stored_result["actualOutput"] == {"text": "hello"}
    assert "output" not in stored_result
