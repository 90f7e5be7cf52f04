"""`provenant view`: the embedded store's viewer in one command."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from typing import Any

from viewer_harness import (
    clean_env,
    make_driver,
    read_until,
    require_browser,
    session_rows,
    text,
    wait_for,
)

from provenant.client import ProvenantClient


def test_view_shows_what_the_embedded_client_recorded_and_revokes_its_key() -> None:
    """`provenant view --no-browser` prints a login link that shows the embedded store's
    sessions; on SIGTERM it stops and its key no longer works."""
    require_browser()
    with tempfile.TemporaryDirectory(prefix="provenant-view-") as directory:
        db = os.path.join(directory, "embedded.db")
        with ProvenantClient(base_url=f"sqlite:///{db}") as client:
            with client.session("Embedded Bot", user_id="offline-user") as session:
                session.add_turn("USER", "recorded without any server")
            client.flush()
            session_id = session.id
        process = subprocess.Popen(
            [sys.executable, "-m", "provenant", "view", "--no-browser", "--db", db],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        lines: list[str] = []
        driver: Any = None
        try:
            link = read_until(process, lines, "Open (one-time login link):")
            assert link.startswith("http://127.0.0.1:") and "/#login=" in link
            driver = make_driver()
            driver.get(link)
            wait_for(driver, lambda d: session_rows(d) == [session_id])
            assert "offline-user" in text(driver, "#sessions tbody")
        finally:
            if driver is not None:
                driver.quit()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        assert process.returncode == 0
        conn = sqlite3.connect(db)
        revoked = conn.execute("SELECT revoked_at FROM api_keys WHERE name = 'cli'").fetchall()
        conn.close()
        assert len(revoked) == 1 and revoked[0][0] is not None


def test_view_without_a_store_says_how_to_make_one() -> None:
    """Run where nothing was recorded, `provenant view` exits 1 and suggests the demo."""
    with tempfile.TemporaryDirectory() as directory:
        result = subprocess.run(
            [sys.executable, "-m", "provenant", "view", "--no-browser"],
            cwd=directory,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert "provenant demo" in result.stderr
        assert not os.path.exists(os.path.join(directory, ".provenant"))
