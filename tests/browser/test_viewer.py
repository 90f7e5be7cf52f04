"""The web viewer in a real browser, against a real `provenant serve` filled by the SDK."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from viewer_harness import (
    XSS,
    Served,
    clean_env,
    click,
    client_of,
    css,
    log_in,
    make_driver,
    session_rows,
    severe_logs,
    text,
    texts,
    wait_for,
)


def test_the_login_link_works_once_and_leaves_the_address_bar(served: Served) -> None:
    """The printed link logs a browser in and its token leaves the URL; used again, it fails."""
    first = make_driver()
    try:
        first.get(served.login_link)
        wait_for(first, lambda d: served.demo_session_id in session_rows(d))
        assert "login=" not in first.current_url
        assert (
            first.execute_script("return sessionStorage.getItem('provenant.apiKey')")
            == served.api_key
        )
    finally:
        first.quit()
    second = make_driver()
    try:
        second.get(served.login_link)
        alert = wait_for(second, lambda d: (css(d, "#login-form .error") or [None])[0])
        wait_for(second, lambda d: "already used" in alert.text)
        assert session_rows(second) == []
        assert second.execute_script("return sessionStorage.getItem('provenant.apiKey')") is None
    finally:
        second.quit()


def test_the_demo_session_is_listed_and_opens_with_its_turns_tool_call_and_result(
    served: Served, browser: Any
) -> None:
    """The demo's session is in the list; its page shows 7 turns, the tool call and its result."""
    log_in(browser, served)
    wait_for(browser, lambda d: served.demo_session_id in session_rows(d))
    row = f'tr[data-session-id="{served.demo_session_id}"]'
    assert "Support Bot (demo)" in text(browser, row) and "demo-user" in text(browser, row)
    assert text(browser, f"{row} .turns") == "7"
    click(browser, f"{row} a")
    wait_for(browser, lambda d: len(css(d, "article.turn")) == 7)
    roles = texts(browser, "article.turn .role")
    assert roles == ["SYSTEM", "USER", "ASSISTANT", "TOOL", "ASSISTANT", "USER", "ASSISTANT"]
    call = text(browser, "#turn-3 .toolcall")
    assert "lookup_order" in call and '"order_id": "A1234"' in call
    assert "answered by #4" in call
    result = text(browser, "#turn-4")
    assert "result of lookup_order for #3" in result
    assert '"tracking": "PC-88231"' in result
    streamed = text(browser, "#turn-5")
    assert "claude-sonnet-5-5" in streamed and "first token" in streamed and "streamed" in streamed
    assert "stop tool_use" in text(browser, "#turn-3")
    assert len(css(browser, "svg.timeline rect.bar")) == 4  # the calls and the tool that took time
    assert severe_logs(browser) == []


def test_search_finds_a_session_by_a_word_of_its_content(served: Served, browser: Any) -> None:
    """Searching a word of a turn finds its session; a word in no turn finds nothing."""
    with client_of(served) as client:
        other = client.create_session("Search Bot")
        client.add_turn(other["id"], "USER", "a question about invoices")
    log_in(browser, served)
    wait_for(browser, lambda d: served.demo_session_id in session_rows(d))
    for word, expected in (("delivery", [served.demo_session_id]), ("invoices", [other["id"]])):
        search = css(browser, "#search")[0]
        search.clear()
        search.send_keys(word)
        click(browser, "#filters button[type=submit]")
        wait_for(browser, lambda d, expected=expected: session_rows(d) == expected)
        assert f"q={word}" in browser.current_url
    search = css(browser, "#search")[0]
    search.clear()
    search.send_keys("zebra-never-said")
    click(browser, "#filters button[type=submit]")
    wait_for(browser, lambda d: "No sessions match." in text(d, "#sessions"))


def test_a_session_recorded_while_the_page_is_open_appears_and_updates_live(
    served: Served, browser: Any
) -> None:
    """A new session shows in the open list, and its open page follows its turns and end,
    all without a reload."""
    log_in(browser, served)
    wait_for(browser, lambda d: served.demo_session_id in session_rows(d))
    browser.execute_script("window.__notReloaded = true")
    with client_of(served) as client:
        session = client.create_session("Live Bot", user_id="live-user")
        client.add_turn(session["id"], "USER", "first words, live")
        wait_for(browser, lambda d: session["id"] in session_rows(d))
        click(browser, f'tr[data-session-id="{session["id"]}"] a')
        wait_for(browser, lambda d: len(css(d, "article.turn")) == 1)
        wait_for(browser, lambda d: "live" in text(d, "#live"))
        client.add_turn(
            session["id"],
            "ASSISTANT",
            "a live answer",
            latency_ms=42,
            input_tokens=3,
            output_tokens=4,
            metadata={"model": "m-1"},
        )
        wait_for(browser, lambda d: len(css(d, "article.turn")) == 2)
        assert "a live answer" in text(browser, "#turn-2")
        client.end_session(session["id"], status="FAILED")
        wait_for(browser, lambda d: "FAILED" in text(d, ".session-head .title"))
    assert browser.execute_script("return window.__notReloaded") is True


def test_recorded_markup_is_shown_as_text_and_never_runs(served: Served, browser: Any) -> None:
    """An <img onerror> in content, tool arguments, metadata and names shows as text, runs
    nothing and adds no element."""
    with client_of(served) as client:
        session = client.create_session(XSS, user_id=XSS, tags=[XSS], metadata={"note": XSS})
        client.add_turn(session["id"], "USER", XSS)
        client.add_turn(
            session["id"],
            "ASSISTANT",
            '<img src=x onerror="window.__pwned=1">',
            tool_calls=[{"id": XSS, "name": XSS, "input": {"html": XSS}}],
            metadata={"model": XSS, "stopReason": XSS, "span": [XSS], "error": XSS},
        )
        client.add_turn(session["id"], "TOOL", {"html": XSS}, metadata={"toolName": XSS})
        client.end_session(session["id"])
    log_in(browser, served)
    wait_for(browser, lambda d: session["id"] in session_rows(d))
    assert XSS in text(browser, f'tr[data-session-id="{session["id"]}"]')
    click(browser, f'tr[data-session-id="{session["id"]}"] a')
    wait_for(browser, lambda d: len(css(d, "article.turn")) == 3)
    assert text(browser, "#turn-1 pre.content") == XSS
    assert text(browser, "#turn-2").count(XSS) >= 5  # model, stop, span, tool call, error
    assert css(browser, "main img, main script, main iframe") == []
    time.sleep(0.5)  # give any handler that slipped through the time to run
    assert browser.execute_script("return window.__pwned === undefined")
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def test_text_content_shows_as_recorded_and_json_content_indented(
    served: Served, browser: Any
) -> None:
    """A text turn that parses as JSON shows as typed; a JSON turn shows indented."""
    with client_of(served) as client:
        session = client.create_session("Text Bot")
        client.add_turn(session["id"], "USER", '[1,   2] {"a":1}')
        client.add_turn(session["id"], "USER", "[1,   2]")
        client.add_turn(session["id"], "ASSISTANT", [1, 2])
        client.end_session(session["id"])
    log_in(browser, served)
    wait_for(browser, lambda d: session["id"] in session_rows(d))
    click(browser, f'tr[data-session-id="{session["id"]}"] a')
    wait_for(browser, lambda d: len(css(d, "article.turn")) == 3)
    assert text(browser, "#turn-1 pre.content") == '[1,   2] {"a":1}'
    assert text(browser, "#turn-2 pre.content") == "[1,   2]"
    assert text(browser, "#turn-3 pre.content") == "[\n  1,\n  2\n]"
    assert severe_logs(browser) == []


def test_a_wrong_key_sees_no_data(served: Served, browser: Any) -> None:
    """A wrong key is refused at the login form and nothing of the org is shown."""
    log_in(browser, served, key="pk_live_" + "0" * 32)
    message = wait_for(browser, lambda d: (css(d, "#login-form .error") or [None])[0])
    wait_for(browser, lambda d: "not valid" in message.text)
    assert session_rows(browser) == []
    assert served.demo_session_id not in browser.page_source
    assert browser.execute_script("return sessionStorage.getItem('provenant.apiKey')") is None


def test_a_key_of_another_org_sees_none_of_this_orgs_sessions(served: Served, browser: Any) -> None:
    """A valid key of another organisation logs in to an empty list."""
    import subprocess
    import sys

    made = subprocess.run(
        [sys.executable, "-m", "provenant", "keys", "create", "--db", served.db, "--org", "Other"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    log_in(browser, served, key=made.stdout.strip())
    wait_for(browser, lambda d: "No sessions match." in text(d, "#sessions"))
    assert served.demo_session_id not in browser.page_source


def test_agents_and_eval_runs_pages(served: Served, browser: Any) -> None:
    """Agents show their session counts; eval runs their pass rate, cases and a suite chart."""
    with client_of(served) as client:
        suite = client.create_eval_suite("Arithmetic")
        client.add_eval_case(suite["id"], "two", {"n": 2}, {"answer": "4"})
        client.add_eval_case(suite["id"], "three", {"n": 3}, {"answer": "6"})
        for wrong in (3, None):
            client.evaluate(
                suite["id"],
                lambda case, wrong=wrong: {
                    "answer": str(case["n"] * 2 if case["n"] != wrong else 0)
                },
                agent_id="Math Bot",
            )
    log_in(browser, served)
    wait_for(browser, lambda d: session_rows(d))
    click(browser, 'nav a[data-page="agents"]')
    rows = wait_for(
        browser, lambda d: [r for r in texts(d, "#agents tbody tr") if "Support Bot (demo)" in r]
    )
    assert rows[0].split("\t")[2] == "1"
    click(browser, 'nav a[data-page="evals"]')
    wait_for(browser, lambda d: len(css(d, "#runs tbody tr[data-run-id]")) == 2)
    assert sorted(texts(browser, "#runs .pass-rate")) == ["100%", "50%"]
    half = next(r for r in css(browser, "#runs tbody tr") if "50%" in r.text)
    half.find_element("css selector", "a").click()
    wait_for(browser, lambda d: len(css(d, "article.case")) == 2)
    failed = text(browser, "article.case.not-passed")
    assert '"n": 3' in failed and '"answer": "6"' in failed and '"answer": "0"' in failed
    assert "1 of 2" in text(browser, "#run-pass-rate")
    click(browser, ".facts a")
    wait_for(browser, lambda d: len(css(d, "svg.chart circle.dot")) == 2)


def test_the_page_is_served_with_a_strict_policy_and_no_data(served: Served) -> None:
    """The page forbids inline script and framing, and the API answers nothing without a key."""
    parts = urlsplit(served.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/")
    response = conn.getresponse()
    page = response.read().decode()
    policy = response.getheader("Content-Security-Policy") or ""
    assert response.status == 200 and '<script type="module" src="/viewer/app.js">' in page
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "require-trusted-types-for 'script'" in policy
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    for path in ("/api/sessions", f"/api/sessions/{served.demo_session_id}"):
        conn.request("GET", path)
        answer = conn.getresponse()
        assert answer.status == 401 and served.demo_session_id not in answer.read().decode()
    conn.request("POST", "/viewer/login", body=json.dumps({"token": "guess"}))
    answer = conn.getresponse()
    assert answer.status == 401 and "apiKey" not in answer.read().decode()
    conn.close()


def test_a_page_of_the_viewer_never_reaches_another_host(served: Served, browser: Any) -> None:
    """Every request the page makes goes to its own server (no CDN: it works offline)."""
    log_in(browser, served)
    wait_for(browser, lambda d: served.demo_session_id in session_rows(d))
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
    )
    assert origins and set(origins) == {served.url}


def _usd(value: float) -> str:
    """A cost as the page writes it (``usd`` in viewer/dom.js)."""
    return f"${value:.5f}" if value < 0.01 else f"${value:.2f}"


def test_the_demo_sessions_cost_is_shown_in_the_list_and_on_its_page(
    served: Served, browser: Any
) -> None:
    """The demo's calls are priced (the cost extra): the list shows the session's costUsd
    and its page shows the total and each priced call's cost."""
    pytest.importorskip("genai_prices")
    with client_of(served) as client:
        recorded = client.get_session(served.demo_session_id)
    priced = [
        t["metadata"]["costUsd"]
        for t in recorded["turns"]
        if isinstance(t.get("metadata"), dict) and "costUsd" in t["metadata"]
    ]
    assert priced and recorded["costUsd"] == pytest.approx(sum(priced))
    log_in(browser, served)
    wait_for(browser, lambda d: served.demo_session_id in session_rows(d))
    row = f'tr[data-session-id="{served.demo_session_id}"]'
    assert _usd(recorded["costUsd"]) in text(browser, row)
    click(browser, f"{row} a")
    wait_for(browser, lambda d: len(css(d, "article.turn")) == 7)
    assert f"Cost\n{_usd(recorded['costUsd'])}" in text(browser, "body")
    turns_text = "\n".join(texts(browser, "article.turn"))
    for cost in priced:
        assert _usd(cost) in turns_text
