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
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import pytest

_START_TIMEOUT_S = 30.0
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> tuple[Optional[str], Optional[str]]:
    binary = next((p for p in map(shutil.which, _CHROMIUM_NAMES) if p), None)
    return binary, shutil.which("chromedriver")


def require_browser() -> tuple[str, str]:
    """The Chromium and chromedriver paths; skip (or fail in CI) when either is missing."""
    binary, driver = _browser()
    if binary and driver:
        return binary, driver
    message = (
        "the viewer's browser tests need chromium and chromedriver"
        " (apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI must have them")
    pytest.skip(message)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PROVENANT_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    env.update(extra)
    return env


@dataclass
class Served:
    """A running ``provenant serve`` process and what it printed."""

    process: subprocess.Popen[str]
    url: str
    api_key: str
    login_link: str
    db: str
    demo_session_id: str = ""
    lines: list[str] = field(default_factory=list)


def _read_until(process: subprocess.Popen[str], lines: list[str], prefix: str) -> str:
    assert process.stdout is not None
    result: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(prefix):
                result.append(line[len(prefix) :].strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(_START_TIMEOUT_S)
    assert result, f"provenant serve never printed {prefix!r}: {lines}"
    return result[0]


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
            key = _read_until(process, lines, "API key:")
            url = _read_until(process, lines, "Provenant local server on")
            link = _read_until(process, lines, "Web viewer (one-time login link):")
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


def make_driver(window: tuple[int, int] = (1280, 900)) -> Any:
    """A headless Chromium through the distribution's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--window-size={window[0]},{window[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (empty sessionStorage) per test."""
    driver = make_driver()
    try:
        yield driver
    finally:
        driver.quit()
