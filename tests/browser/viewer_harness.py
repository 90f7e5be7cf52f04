"""
What the web viewer's browser tests share: finding the browser, a headless Chromium
driven by Selenium, reading ``provenant serve``'s output, and page helpers.

Chromium and chromedriver come from the distribution (``apt-get install chromium
chromium-driver``, which ``.ci/run`` does). Without them the tests skip, except in CI
(``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

from provenant.client import ProvenantClient

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


def read_until(process: subprocess.Popen[str], lines: list[str], prefix: str) -> str:
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


_WAIT_S = 15.0
XSS = "<img src=x onerror=alert(1)>"


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float = _WAIT_S) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def text(driver: Any, selector: str) -> str:
    """The text of the first element matching ``selector`` ("" when none), read in one go
    (the list re-renders while it refreshes, so element handles can go stale)."""
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector
    )
    return str(found)


def texts(driver: Any, selector: str) -> list[str]:
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)", selector
        )
    )


def click(driver: Any, selector: str) -> None:
    """Click the first element matching ``selector``, again if a refresh replaced it."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt(d: Any) -> bool:
        try:
            found = css(d, selector)
            if not found:
                return False
            found[0].click()
            return True
        except StaleElementReferenceException:
            return False

    wait_for(driver, attempt)


def log_in(driver: Any, served: Served, key: Optional[str] = None) -> None:
    """Open the viewer and log in with an API key typed into its form, as a person would."""
    driver.get(served.url + "/")
    field = wait_for(driver, lambda d: (css(d, "#api-key") or [None])[0])
    field.send_keys(key or served.api_key)
    click(driver, "#login-form button")


def session_rows(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('#sessions tbody tr[data-session-id]')]"
            ".map(e => e.getAttribute('data-session-id'))"
        )
    )


def severe_logs(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def client_of(served: Served) -> ProvenantClient:
    return ProvenantClient(base_url=served.url, api_key=served.api_key, enabled=False)
