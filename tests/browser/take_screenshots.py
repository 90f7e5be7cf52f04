"""
Screenshots of the web viewer for the docs, taken by the browser tests' own tooling
(headless Chromium through Selenium) against a real server filled by the real SDK.

    python tests/browser/take_screenshots.py      # writes docs/images/viewer-*.png

Needs chromium and chromedriver (apt-get install chromium chromium-driver).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

from viewer_harness import clean_env, click, make_driver, session_rows, wait_for

from provenant.client import ProvenantClient
from provenant.server import LOCAL_ORG_ID, start_server

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "images")


def record(url: str, key: str, directory: str) -> str:
    """The demo over HTTP, a few more sessions, and two eval runs; the demo's session id."""
    demo = subprocess.run(
        [sys.executable, "-m", "provenant", "demo", "--base-url", url],
        cwd=directory,
        env=clean_env(PROVENANT_API_KEY=key),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    match = re.search(r"provenant sessions show ([0-9a-f-]{36})", demo.stdout)
    assert match, demo.stdout
    with ProvenantClient(base_url=url, api_key=key, enabled=False) as client:
        for n, (agent, user, status) in enumerate(
            [
                ("Research Agent", "ana", "COMPLETED"),
                ("Support Bot (demo)", "li", "FAILED"),
                ("Research Agent", "sam", "COMPLETED"),
                ("Billing Agent", "ana", None),
            ]
        ):
            session = client.create_session(agent, user_id=user, tags=["docs"])
            client.add_turn(session["id"], "USER", f"Question {n + 1}: summarise the refund policy")
            metadata: dict[str, Any] = {
                "model": "gpt-5-mini",
                "provider": "openai",
                "stopReason": "stop",
                "span": ["answer", "plan"],
            }
            if status == "FAILED":
                metadata["error"] = {"type": "RateLimitError", "message": "429 Too Many Requests"}
            client.add_turn(
                session["id"],
                "ASSISTANT",
                "The policy allows refunds within 30 days.",
                latency_ms=800 + 150 * n,
                input_tokens=420 + n,
                output_tokens=60 + n,
                metadata=metadata,
            )
            if status is not None:
                client.end_session(session["id"], status=status)
        suite = client.create_eval_suite(
            "Refund answers", description="Does the bot quote the policy?"
        )
        for days in (10, 30, 45):
            client.add_eval_case(
                suite["id"], f"{days} days", {"days": days}, {"refund": days <= 30}
            )
        for strict in (False, False, True):
            client.evaluate(
                suite["id"],
                lambda case, strict=strict: {"refund": case["days"] <= (30 if not strict else 20)},
                agent_id="Support Bot (demo)",
            )
    return match.group(1)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="provenant-shots-") as directory:
        server = start_server(os.path.join(directory, "shots.db"))
        try:
            key, _ = server.store.create_api_key(org_id=LOCAL_ORG_ID)
            demo_id = record(server.url, key, directory)
            driver = make_driver((1280, 860))
            try:
                driver.get(server.login_link(key))
                wait_for(driver, lambda d: demo_id in session_rows(d))
                driver.save_screenshot(os.path.join(OUT, "viewer-sessions.png"))
                click(driver, f'tr[data-session-id="{demo_id}"] a')
                wait_for(
                    driver, lambda d: len(d.find_elements("css selector", "article.turn")) == 7
                )
                driver.set_window_size(1280, 1700)
                time.sleep(0.3)
                driver.save_screenshot(os.path.join(OUT, "viewer-session.png"))
                driver.set_window_size(1280, 860)
                driver.get(server.url + "/#/agents")
                wait_for(driver, lambda d: d.find_elements("css selector", "#agents tbody tr"))
                driver.save_screenshot(os.path.join(OUT, "viewer-agents.png"))
                driver.get(server.url + "/#/evals")
                wait_for(
                    driver,
                    lambda d: len(d.find_elements("css selector", "#runs tr[data-run-id]")) == 3,
                )
                click(driver, "#runs tr[data-run-id] td:nth-child(2) a")
                wait_for(driver, lambda d: d.find_elements("css selector", "svg.chart circle"))
                driver.save_screenshot(os.path.join(OUT, "viewer-suite.png"))
                click(driver, "#runs tr[data-run-id] a")
                wait_for(driver, lambda d: d.find_elements("css selector", "article.case"))
                driver.set_window_size(1280, 1100)
                time.sleep(0.3)
                driver.save_screenshot(os.path.join(OUT, "viewer-run.png"))
            finally:
                driver.quit()
        finally:
            server.stop()
    print(f"screenshots written to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
