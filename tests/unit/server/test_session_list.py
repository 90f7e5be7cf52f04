"""GET /api/sessions paging, sorting, filters and search, over real HTTP."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from typing import Any

import pytest
from server_http import Api

from provenant.server import start_server


def _turn(api: Api, session_id: str, content: Any, **fields: Any) -> None:
    api.ok(
        "POST", f"/api/sessions/{session_id}/turns", {"role": "USER", "content": content, **fields}
    )


def _ids(answer: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in answer]


def _sessions(api: Api, count: int, **fields: Any) -> list[dict[str, Any]]:
    agent = api.agent()
    made = []
    for _ in range(count):
        made.append(api.session(agent["id"], **fields))
        time.sleep(0.002)  # distinct startedAt milliseconds
    return made


def test_a_client_that_asks_nothing_gets_the_newest_100(api: Api) -> None:
    """Without paging parameters the list keeps the contract: at most 100, newest first."""
    made = _sessions(api, 103)
    answer = api.ok("GET", "/api/sessions")
    assert _ids(answer) == [s["id"] for s in reversed(made)][:100]


def test_limit_and_offset_walk_every_session_once(api: Api) -> None:
    """Pages of limit/offset cover every session exactly once, in order, with a total."""
    made = _sessions(api, 25)
    seen: list[str] = []
    for offset in range(0, 30, 10):
        status, answer, headers = api.raw("GET", f"/api/sessions?limit=10&offset={offset}&total=1")
        assert status == 200
        assert headers["x-total-count"] == "25"
        seen.extend(item["id"] for item in answer)
    assert seen == [s["id"] for s in reversed(made)]


def test_sorting_by_turns_and_tokens(api: Api) -> None:
    """sort=turns / inputTokens orders by the session's turns and token sums, both ways."""
    a, b, c = _sessions(api, 3)
    for _ in range(3):
        _turn(api, b["id"], "x", inputTokens=5, outputTokens=1)
    _turn(api, c["id"], "y", inputTokens=100, outputTokens=7)
    answer = api.ok("GET", "/api/sessions?sort=turns&order=desc")
    assert _ids(answer) == [b["id"], c["id"], a["id"]]
    assert [i["_count"]["turns"] for i in answer] == [3, 1, 0]
    assert answer[0]["_sum"] == {"inputTokens": 15, "outputTokens": 3}
    answer = api.ok("GET", "/api/sessions?sort=inputTokens&order=asc")
    assert _ids(answer) == [a["id"], b["id"], c["id"]]


def test_filters_by_user_status_agent_and_time(api: Api) -> None:
    """userId, status, agentId, startedAfter and startedBefore each narrow the list."""
    first = api.session(api.agent("One")["id"], userId="u-1")
    time.sleep(0.01)
    second = api.session(api.agent("Two")["id"], userId="u-2")
    api.ok("POST", f"/api/sessions/{second['id']}/end", {})
    assert _ids(api.ok("GET", "/api/sessions?userId=u-1")) == [first["id"]]
    assert _ids(api.ok("GET", "/api/sessions?status=COMPLETED")) == [second["id"]]
    assert _ids(api.ok("GET", f"/api/sessions?agentId={first['agentId']}")) == [first["id"]]
    after = api.ok("GET", f"/api/sessions?startedAfter={second['startedAt']}")
    assert _ids(after) == [second["id"]]
    before = api.ok("GET", f"/api/sessions?startedBefore={second['startedAt']}")
    assert _ids(before) == [first["id"]]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=ten",
        "offset=-1",
        "sort=secret",
        "order=up",
        "startedAfter=yesterday",
    ],
)
def test_bad_paging_parameters_are_a_validation_error(api: Api, query: str) -> None:
    """A parameter out of its range answers 422 naming it, never 500 or a silent default."""
    status, answer = api.call("GET", f"/api/sessions?{query}")
    assert status == 422
    assert answer["issues"][0]["path"] == ["query", query.split("=")[0]]


@pytest.mark.parametrize("needle", ["refund", "Ref", "é€", "x", '"q" AND'])
def test_search_is_the_contracts_substring_test(api: Api, needle: str) -> None:
    """q finds sessions whose turn content contains the text exactly (case as given)."""
    hit, miss, other_case = _sessions(api, 3)
    _turn(api, hit["id"], f"please {needle} now")
    _turn(api, miss["id"], "nothing to see")
    _turn(api, other_case["id"], f"please {needle.swapcase()} now")
    from urllib.parse import quote

    found = _ids(api.ok("GET", f"/api/sessions?q={quote(needle)}"))
    expected = [hit["id"]]
    if needle.swapcase() == needle:
        expected = [other_case["id"], hit["id"]]
    assert found == expected


def test_search_finds_json_content_and_forgets_deleted_turns(api: Api) -> None:
    """Object content is searched as its JSON text; a deleted session is no longer found."""
    (session,) = _sessions(api, 1)
    _turn(api, session["id"], {"order": "A1234-searchable"})
    assert _ids(api.ok("GET", "/api/sessions?q=A1234-searchable")) == [session["id"]]
    api.ok("DELETE", f"/api/sessions/{session['id']}")
    assert api.ok("GET", "/api/sessions?q=A1234-searchable") == []


def test_a_store_from_before_the_index_is_upgraded_on_open() -> None:
    """A file without the summary columns gets them filled, and search works on old turns."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "old.db")
        with start_server(path) as server:
            key = server.api_keys[0]
            api = Api(server.url, key)
            (session,) = _sessions(api, 1)
            _turn(api, session["id"], "an older needle", inputTokens=4)
            api.close()
        conn = sqlite3.connect(path)
        for name in (
            "turns_summary_insert",
            "turns_summary_delete",
            "turns_fts_delete",
        ):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE turns_fts")
        conn.execute("DROP TABLE turns_fts_state")
        conn.execute("ALTER TABLE sessions DROP COLUMN n_turns")
        conn.execute("ALTER TABLE sessions DROP COLUMN sum_input_tokens")
        conn.commit()
        conn.close()
        with start_server(path, api_keys=[key]) as server:
            api = Api(server.url, key)
            answer = api.ok("GET", "/api/sessions?q=older+needle")
            api.close()
        assert _ids(answer) == [session["id"]]
        assert answer[0]["_count"] == {"turns": 1}
        assert answer[0]["_sum"]["inputTokens"] == 4


def test_search_is_right_before_and_after_the_background_index_catches_up(tmp_path: Any) -> None:
    """Turns are found while unindexed and once indexed; a deleted newest session's seqs
    are reused by SQLite, and the reused turns are still found."""
    with start_server(str(tmp_path / "s.db")) as server:
        server._search_indexer.stop()  # index by hand below, at known moments
        api = Api(server.url, server.api_keys[0])
        old, newest = _sessions(api, 2)
        _turn(api, old["id"], "needle in the old one")
        _turn(api, newest["id"], "needle in the newest")
        assert len(api.ok("GET", "/api/sessions?q=needle")) == 2  # scanned, not indexed
        assert server._search_indexer.catch_up() == 2
        assert server._search_indexer.catch_up() == 0
        assert len(api.ok("GET", "/api/sessions?q=needle")) == 2  # from the index
        api.ok("DELETE", f"/api/sessions/{newest['id']}")
        assert _ids(api.ok("GET", "/api/sessions?q=needle")) == [old["id"]]
        (again,) = _sessions(api, 1)
        _turn(api, again["id"], "a haystack reusing the seq")
        assert _ids(api.ok("GET", "/api/sessions?q=haystack")) == [again["id"]]
        assert server._search_indexer.catch_up() == 1
        assert _ids(api.ok("GET", "/api/sessions?q=haystack")) == [again["id"]]
        assert _ids(api.ok("GET", "/api/sessions?q=needle")) == [old["id"]]
        api.close()


def test_the_server_indexes_new_turns_by_itself(api: Api, provenant_server: Any) -> None:
    """Within a few seconds of a write, the background indexer has every turn indexed."""
    (session,) = _sessions(api, 1)
    _turn(api, session["id"], "indexed soon")
    deadline = time.monotonic() + 10
    while provenant_server._search_indexer._pending():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _ids(api.ok("GET", "/api/sessions?q=indexed+soon")) == [session["id"]]


def test_a_common_text_is_searched_by_walking_and_its_total_is_capped(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more index candidates than the bound, search walks the sessions and still
    finds exactly the matching ones; a search's total stops at the cap and says so."""
    from provenant.server import _session_list

    monkeypatch.setattr(_session_list, "_INDEXED_SEARCH_MAX", 1)
    monkeypatch.setattr(_session_list, "TOTAL_CAP", 2)
    made = _sessions(api, 4)
    for session in made[:3]:
        _turn(api, session["id"], "a common phrase")
    _turn(api, made[3]["id"], "a COMMON phrase")
    status, answer, headers = api.raw("GET", "/api/sessions?q=common+phrase&total=true")
    assert status == 200
    assert _ids(answer) == [s["id"] for s in reversed(made[:3])]
    assert headers["x-total-count"] == "2"
    assert headers["x-total-count-capped"] == "true"
    status, _, headers = api.raw("GET", "/api/sessions?total=true")
    assert headers["x-total-count"] == "4" and "x-total-count-capped" not in headers


def test_agent_stats_count_sessions_and_tokens_of_the_org_only(api: Api, other_api: Api) -> None:
    """GET /api/stats/agents gives each agent its sessions (active, failed), turns and tokens."""
    bot = api.agent("Stats Bot")
    api.agent("Idle Bot")
    first = api.session(bot["id"])
    second = api.session(bot["id"])
    _turn(api, first["id"], "a", inputTokens=10, outputTokens=2)
    _turn(api, second["id"], "b", inputTokens=5)
    api.ok("POST", f"/api/sessions/{second['id']}/end", {"status": "FAILED"})
    other_api.session(other_api.agent("Stats Bot")["id"])
    stats = {a["name"]: a["stats"] for a in api.ok("GET", "/api/stats/agents")}
    assert stats["Stats Bot"] == {
        "sessions": 2,
        "turns": 2,
        "inputTokens": 15,
        "outputTokens": 2,
        "activeSessions": 1,
        "failedSessions": 1,
        "lastSessionAt": second["startedAt"],
    }
    assert stats["Idle Bot"]["sessions"] == 0 and stats["Idle Bot"]["lastSessionAt"] is None
    assert set(stats) == {"Stats Bot", "Idle Bot"}
