"""
Fixtures of the web viewer's browser tests: a real ``provenant serve`` process filled by
the real SDK (the demo agent), and headless Chromium driven by Selenium.

Chromium and chromedriver come from the distribution (``apt-get install chromium
chromium-driver``, which ``.ci/run`` does). Without them the tests skip, except in CI
(``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from typing import Any, Iterator

import pytest
from viewer_harness import Served, clean_env, make_driver, read_until, require_browser


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    """``provenant serve`` on a free port, with the demo recorded into it over HTTP."""
    require_browser()
    with tempfile.TemporaryDirectory(prefix="provenant-viewer-") as directory:
        db = os.path.join(directory, "viewer.db")
        process = subprocess.Popen(
            [sys.executable, "-m", "provenant", "serve", "--port", "0", "--db", db],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        try:
            lines: list[str] = []
            key = read_until(process, lines, "API key:")
            url = read_until(process, lines, "Provenant local server on")
            link = read_until(process, lines, "Web viewer (one-time login link):")
            served = Served(process, url, key, link, db, lines=lines)
            demo = subprocess.run(
                [sys.executable, "-m", "provenant", "demo", "--base-url", url],
                cwd=directory,
                env=clean_env(PROVENANT_API_KEY=key),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert demo.returncode == 0, demo.stdout + demo.stderr
            match = re.search(r"provenant sessions show ([0-9a-f-]{36})", demo.stdout)
            assert match, demo.stdout
            served.demo_session_id = match.group(1)
            yield served
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (empty sessionStorage) per test."""
    driver = make_driver()
    try:
        yield driver
    finally:
        driver.quit()
