"""The JSON columns as the local server answers them: decoded once, user data untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from server_http import Api

from provenant.backends.local import LocalBackend
from provenant.server import LocalServer, _store
from provenant.server._store import Store

# Strings that look like JSON, inside user data: the hosted server would parse them.
_USER_DATA = {"input": "42", "list": "[1]", "deep": {"metadata": '{"x": 1}'}}


def test_text_content_that_parses_as_json_stays_text(api: Api) -> None:
    """A text turn "[1, 2]" answers as that text; an array turn [1, 2] as the array."""
    session = api.session()
    path = f"/api/sessions/{session['id']}/turns"
    text = api.ok("POST", path, {"role": "USER", "content": "[1, 2]"})
    value = api.ok("POST", path, {"role": "ASSISTANT", "content": [1, 2]})
    assert (text["content"], value["content"]) == ("[1, 2]", [1, 2])
    turns = api.ok("GET", f"/api/sessions/{session['id']}")["turns"]
    assert [t["content"] for t in turns] == ["[1, 2]", [1, 2]]


def test_strings_inside_user_data_are_never_parsed(api: Api) -> None:
    """Metadata, tags and tool calls come back exactly as sent, looking-like-JSON strings kept."""
    session = api.session(metadata=_USER_DATA, tags=["[1]", "{}"])
    calls = [{"id": "c1", "name": "f", "input": "[1]"}]
    api.ok(
        "POST",
        f"/api/sessions/{session['id']}/turns",
        {"role": "ASSISTANT", "content": "{}", "toolCalls": calls, "metadata": _USER_DATA},
    )
    full = api.ok("GET", f"/api/sessions/{session['id']}")
    assert (full["metadata"], full["tags"]) == (_USER_DATA, ["[1]", "{}"])
    turn = full["turns"][0]
    assert (turn["content"], turn["toolCalls"], turn["metadata"]) == ("{}", calls, _USER_DATA)
    listed = api.ok("GET", "/api/sessions")
    assert listed[0]["metadata"] == _USER_DATA


def test_scalar_eval_payloads_answer_as_json_text_as_on_the_hosted_server(api: Api) -> None:
    """An eval output "Paris" answers as its JSON text, an object output decoded."""
    agent = api.agent()
    suite = api.ok("POST", "/api/evals/suites", {"name": "s"})
    case = api.ok(
        "POST",
        f"/api/evals/suites/{suite['id']}/cases",
        {"name": "c", "input": {"q": "[1]"}, "expectedOutput": "42"},
    )
    assert (case["input"], case["expectedOutput"]) == ({"q": "[1]"}, '"42"')
    run = api.ok("POST", "/api/evals/runs", {"suiteId": suite["id"], "agentId": agent["id"]})
    outputs = ["Paris", {"a": "[1]"}]
    api.ok(
        "POST",
        f"/api/evals/runs/{run['id']}/results",
        {"results": [{"caseId": case["id"], "actualOutput": o} for o in outputs]},
    )
    results = api.ok("GET", f"/api/evals/runs/{run['id']}")["results"]
    assert [r["actualOutput"] for r in results] == ['"Paris"', {"a": "[1]"}]


def test_the_embedded_store_answers_the_same_form(tmp_path: Path) -> None:
    """LocalBackend (the same router, no socket) answers the columns decoded too."""
    backend = LocalBackend(str(tmp_path / "p.db"))
    try:
        agent = backend.request("POST", "/api/agents/get-or-create", body={"name": "Bot"})
        session = backend.request(
            "POST", "/api/sessions", body={"agentId": agent["id"], "metadata": _USER_DATA}
        )
        path = f"/api/sessions/{session['id']}/turns"
        backend.request("POST", path, body={"role": "USER", "content": "[1]"})
        full = backend.request("GET", f"/api/sessions/{session['id']}")
    finally:
        backend.close()
    assert (agent["tags"], full["metadata"]) == ([], _USER_DATA)
    assert full["turns"][0]["content"] == "[1]"


def _old_turn(conn: sqlite3.Connection, session_id: str, content: str) -> None:
    # What an SDK older than turns.content_json writes: no word on the content's kind.
    conn.execute(
        "INSERT INTO turns (id, session_id, role, content, tool_calls, latency_ms,"
        " input_tokens, output_tokens, metadata, created_at)"
        " VALUES (?, ?, 'USER', ?, '[]', NULL, NULL, NULL, '{}', ?)",
        (_store.new_id(), session_id, content, _store.now_iso()),
    )


def test_turns_an_older_sdk_wrote_read_as_clients_always_read_them(tmp_path: Path) -> None:
    """Content without the JSON flag: object or array text is JSON, other text is text."""
    backend = LocalBackend(str(tmp_path / "p.db"))
    try:
        agent = backend.request("POST", "/api/agents/get-or-create", body={"name": "Bot"})
        session = backend.request("POST", "/api/sessions", body={"agentId": agent["id"]})
        conn = sqlite3.connect(str(tmp_path / "p.db"))
        with conn:
            for content in ('[{"type":"text"}]', "[draft] hi", "42"):
                _old_turn(conn, session["id"], content)
        conn.close()
        turns = backend.request("GET", f"/api/sessions/{session['id']}")["turns"]
    finally:
        backend.close()
    assert [t["content"] for t in turns] == [[{"type": "text"}], "[draft] hi", "42"]


def test_rows_of_older_writers_and_unparsable_text_read_the_same_over_http(
    api: Api, provenant_server: LocalServer
) -> None:
    """The streamed turns list decodes what it cannot send as stored, as the embedded path."""
    session = api.session()
    api.ok("POST", f"/api/sessions/{session['id']}/turns", {"role": "USER", "content": "[1]"})
    with provenant_server.store.write() as conn:
        _old_turn(conn, session["id"], '{"a": 1}')
        _old_turn(conn, session["id"], "[draft]")
        conn.execute(  # not written by this server: shown as it is, never a broken answer
            "INSERT INTO turns (id, session_id, role, content, tool_calls, metadata,"
            " created_at, content_json) VALUES (?, ?, 'USER', '{', '[', '{\"x', ?, 1)",
            (_store.new_id(), session["id"], _store.now_iso()),
        )
    turns = api.ok("GET", f"/api/sessions/{session['id']}")["turns"]
    assert [t["content"] for t in turns] == ["[1]", {"a": 1}, "[draft]", "{"]
    assert (turns[3]["toolCalls"], turns[3]["metadata"]) == ("[", '{"x')
    paged = api.ok("GET", f"/api/sessions/{session['id']}?limit=2&offset=1")["turns"]
    assert [t["content"] for t in paged] == [{"a": 1}, "[draft]"]


def test_a_store_of_the_previous_schema_gains_the_flag_and_keeps_its_turns(
    tmp_path: Path,
) -> None:
    """Opening a file without turns.content_json adds the column, rewriting no turn."""
    db = str(tmp_path / "old.db")
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE turns DROP COLUMN content_json")
    conn.commit()
    conn.close()
    store = Store(db)
    try:
        with store.read() as reader:
            columns = [row[1] for row in reader.execute("PRAGMA table_info(turns)")]
            version = reader.execute("PRAGMA user_version").fetchone()[0]
    finally:
        store.close()
    assert columns[-1] == "content_json"
    assert version == 3


def test_answers_match_the_documented_schemas(api: Api) -> None:
    """The OpenAPI document describes the columns as the values they now are."""
    schemas: Any = api.ok("GET", "/api/docs/spec")["components"]["schemas"]
    assert schemas["Session"]["properties"]["metadata"]["type"] == "object"
    assert schemas["Turn"]["properties"]["toolCalls"]["type"] == "array"
    assert {"type": "string"} in schemas["Turn"]["properties"]["content"]["oneOf"]
