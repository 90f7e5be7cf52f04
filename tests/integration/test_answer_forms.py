"""
The client reads every JSON column exactly once, whichever form the server answers in.

Three servers, one real store: ``provenant serve`` itself (columns decoded, user data as
sent), the hosted platform's double (its middleware parses every JSON-looking string at
any depth) and the 0.1 local server's double (every column as JSON text), each before
the real local server (``hosted_double.py``).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from hosted_double import HostedDouble

from provenant.client import ProvenantClient
from provenant.server import LocalServer

FORMS = ["local", "hosted", "legacy"]
# The example: a value inside metadata is never decoded by the client, even
# under the name of a JSON column (what the hosted server keeps: no object or array text).
METADATA = {"input": "42", "n": 42, "nested": {"metadata": "7", "actualOutput": "null"}}
CALLS = [{"id": "c1", "name": "lookup", "input": {"q": "42"}}]
RICH = [{"type": "text", "text": "hi"}]


@pytest.fixture(params=FORMS)
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(provenant_server: LocalServer, form: str) -> Iterator[ProvenantClient]:
    """A client of the real local server, directly or through a double of another server."""
    double = HostedDouble(provenant_server.url, form) if form != "local" else None
    url = double.url if double is not None else provenant_server.url
    client = ProvenantClient(base_url=url, api_key=provenant_server.create_api_key())
    try:
        yield client
    finally:
        client.shutdown(timeout=10)
        if double is not None:
            double.close()


def test_agents_and_sessions_decode_once(client: ProvenantClient) -> None:
    """Agents' tags, sessions' metadata and tags read back exactly as written, everywhere."""
    agent = client.create_agent("Forms Bot", tags=["a", "b"])
    assert agent["tags"] == ["a", "b"]
    assert client.get_agent(agent["id"])["tags"] == ["a", "b"]
    assert [a["tags"] for a in client.list_agents()] == [["a", "b"]]
    created = client.create_session(agent["id"], metadata=METADATA, tags=["t"])
    assert (created["metadata"], created["tags"]) == (METADATA, ["t"])
    assert created["agent"]["tags"] == ["a", "b"]
    (listed,) = client.list_sessions()
    assert (listed["metadata"], listed["tags"], listed["agent"]["tags"]) == (
        METADATA,
        ["t"],
        ["a", "b"],
    )
    ended = client.end_session(created["id"])
    assert ended["metadata"] == METADATA


def test_turns_decode_once(client: ProvenantClient) -> None:
    """Text, rich content, tool calls and turn metadata read back as written, everywhere."""
    session = client.create_session(client.create_agent("Turns Bot")["id"])
    added = client.add_turn(session["id"], "USER", "hello", metadata=METADATA)
    assert (added["content"], added["toolCalls"], added["metadata"]) == ("hello", [], METADATA)
    client.add_turn(session["id"], "ASSISTANT", RICH, tool_calls=CALLS)
    client.add_turn(session["id"], "TOOL", "[draft] 42")
    turns = client.get_session(session["id"])["turns"]
    assert [t["content"] for t in turns] == ["hello", RICH, "[draft] 42"]
    assert [t["toolCalls"] for t in turns] == [[], CALLS, []]
    assert [t["metadata"] for t in turns] == [METADATA, {}, {}]


def test_text_content_that_looks_like_json(client: ProvenantClient, form: str) -> None:
    """Text "[1, 2]" stays text from provenant serve; the other servers cannot tell it."""
    session = client.create_session(client.create_agent("Text Bot")["id"])
    client.add_turn(session["id"], "USER", "[1, 2]")
    (turn,) = client.get_session(session["id"])["turns"]
    # The hosted middleware parses it; a 0.1 server sends text and JSON alike.
    assert turn["content"] == ("[1, 2]" if form == "local" else [1, 2])


def test_json_looking_strings_inside_user_data(client: ProvenantClient, form: str) -> None:
    """A metadata value "[1]" stays a string unless the hosted server itself parsed it."""
    session = client.create_session(
        client.create_agent("Data Bot")["id"], metadata={"list": "[1]", "n": "42"}
    )
    read = client.get_session(session["id"])["metadata"]
    assert read == ({"list": [1], "n": "42"} if form == "hosted" else {"list": "[1]", "n": "42"})


def test_evals_decode_once(client: ProvenantClient) -> None:
    """Case inputs, expected and actual outputs (scalars included) read back as written."""
    agent = client.create_agent("Eval Bot")
    suite = client.create_eval_suite("forms", tags=["s"])
    assert suite["tags"] == ["s"]
    outputs: list[Any] = ["[1]", "42", 42, {"answer": "42"}, ["x"], None]
    cases = [
        client.add_eval_case(suite["id"], f"c{i}", {"q": "42", "i": i}, expected_output=out)
        for i, out in enumerate(outputs)
    ]
    assert [c["expectedOutput"] for c in cases] == outputs
    read_suite = client.get_eval_suite(suite["id"])
    assert [c["input"] for c in read_suite["cases"]] == [{"q": "42", "i": i} for i in range(6)]
    assert [c["expectedOutput"] for c in read_suite["cases"]] == outputs
    assert [s["tags"] for s in client.list_eval_suites()] == [["s"]]
    run = client.create_eval_run(suite["id"], agent["id"], metadata=METADATA)
    assert run["metadata"] == METADATA
    client.submit_results(
        run["id"],
        [
            {"caseId": c["id"], "actualOutput": out, "passed": True, "metadata": METADATA}
            for c, out in zip(cases, outputs)
        ],
    )
    done = client.get_eval_run(run["id"])
    assert [r["actualOutput"] for r in done["results"]] == outputs
    assert [r["metadata"] for r in done["results"]] == [METADATA] * 6
    assert [r["case"]["expectedOutput"] for r in done["results"]] == outputs
    assert [r["metadata"] for r in client.list_eval_runs(suite_id=suite["id"])] == [METADATA]
