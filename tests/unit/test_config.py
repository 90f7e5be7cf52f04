"""Settings from arguments, then PROVENANT_* variables, then defaults."""

from __future__ import annotations

import logging
import os
import re
from typing import Iterator

import pytest

from provenant import config
from provenant._wire import shown_key
from provenant.client import ProvenantClient
from provenant.config import (
    DEFAULT_HOSTED_URL,
    DEFAULT_LOCAL_DB_PATH,
    ENVIRONMENT_VARIABLES,
    Destination,
    resolve_destination,
    resolve_settings,
)
from provenant.errors import ConfigurationError

KEY = "pk_live_0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("PROVENANT_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config, "_implicit_notice_given", False)
    yield


@pytest.mark.parametrize(
    ("base_url", "api_key", "expected"),
    [
        (None, None, Destination("local", db_path=DEFAULT_LOCAL_DB_PATH, implicit=True)),
        (None, KEY, Destination("http", url=DEFAULT_HOSTED_URL)),
        ("local", None, Destination("local", db_path=DEFAULT_LOCAL_DB_PATH)),
        ("sqlite:///tmp/x.db", None, Destination("local", db_path="tmp/x.db")),
        ("sqlite:////abs/x.db", None, Destination("local", db_path="/abs/x.db")),
        ("http://127.0.0.1:4000/", KEY, Destination("http", url="http://127.0.0.1:4000")),
        (" https://api.example.com ", None, Destination("http", url="https://api.example.com")),
    ],
)
def test_destination_from_base_url_and_key(
    base_url: str, api_key: str, expected: Destination
) -> None:
    """The base URL picks HTTP or the local store; nothing configured means the implicit store."""
    assert resolve_destination(base_url, api_key) == expected


@pytest.mark.parametrize("base_url", ["ftp://x", "sqlite:///", "api.provenant.dev"])
def test_unknown_base_urls_are_refused(base_url: str) -> None:
    """A base URL the SDK cannot speak raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=r"sqlite|base_url"):
        resolve_destination(base_url, None)


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An argument beats its PROVENANT_* variable, which beats the default."""
    monkeypatch.setenv("PROVENANT_API_KEY", "pk_live_env")
    monkeypatch.setenv("PROVENANT_BASE_URL", "http://env:1")
    monkeypatch.setenv("PROVENANT_TIMEOUT", "7")
    monkeypatch.setenv("PROVENANT_AGENT", "Env Agent")
    from_env = resolve_settings()
    assert from_env.api_key == "pk_live_env"
    assert from_env.destination.url == "http://env:1"
    assert from_env.timeout == 7.0
    assert from_env.agent_id == "Env Agent"
    given = resolve_settings(api_key=KEY, base_url="http://arg:2", timeout=3, agent_id="Arg Agent")
    assert (given.api_key, given.destination.url, given.timeout, given.agent_id) == (
        KEY,
        "http://arg:2",
        3.0,
        "Arg Agent",
    )


def test_defaults() -> None:
    """With nothing configured the settings take their documented defaults."""
    settings = resolve_settings()
    assert settings.timeout == 30.0
    assert settings.enabled is True
    assert settings.on_queue_full == "drop_newest"
    assert settings.sample_rate == 1.0
    assert settings.deliver_to_provenant is True
    assert settings.destination.implicit


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROVENANT_ENABLED", "maybe"),
        ("PROVENANT_TIMEOUT", "soon"),
        ("PROVENANT_TIMEOUT", "0"),
        ("PROVENANT_SAMPLE_RATE", "2"),
        ("PROVENANT_ON_QUEUE_FULL", "explode"),
        ("PROVENANT_MAX_QUEUE_SIZE", "0"),
    ],
)
def test_bad_environment_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """An unreadable or out-of-range variable raises ConfigurationError."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError):
        resolve_settings()


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("ON", True)])
def test_boolean_variables(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    """Boolean variables accept the usual spellings."""
    monkeypatch.setenv("PROVENANT_ENABLED", value)
    assert resolve_settings().enabled is expected


def test_blank_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set to blanks is treated as not set."""
    monkeypatch.setenv("PROVENANT_API_KEY", "  ")
    assert resolve_settings().api_key is None


def test_destination_option_is_checked() -> None:
    """destination accepts provenant and otel-only (which needs otel)."""
    assert resolve_settings(destination="provenant").deliver_to_provenant
    with pytest.raises(ConfigurationError, match="otel"):
        resolve_settings(destination="otel-only")
    with pytest.raises(ConfigurationError):
        resolve_settings(destination="elsewhere")
    assert not resolve_settings(destination="otel-only", otel=True).deliver_to_provenant


def test_the_key_is_hidden_from_the_settings_repr() -> None:
    """The settings' repr never shows the API key; key_prefix shows only its start."""
    settings = resolve_settings(api_key=KEY, base_url="http://127.0.0.1:1")
    assert KEY not in repr(settings)
    assert settings.key_prefix == "pk_live_0123"
    assert shown_key(None) is None
    assert shown_key("sk-abcdefgh") == "sk-a"


def test_implicit_local_store_is_announced_once(caplog: pytest.LogCaptureFixture) -> None:
    """Choosing the embedded store by default says so once on the provenant logger."""
    caplog.set_level(logging.INFO, logger="provenant")
    resolve_settings()
    resolve_settings()
    resolve_settings(base_url="local")
    notices = [r for r in caplog.records if r.name == "provenant" and "local store" in r.message]
    assert len(notices) == 1
    assert DEFAULT_LOCAL_DB_PATH in notices[0].getMessage()


def test_every_variable_read_is_documented() -> None:
    """Every PROVENANT_* variable the module reads appears in ENVIRONMENT_VARIABLES."""
    with open(config.__file__, encoding="utf-8") as file:
        source = file.read()
    read = set(re.findall(r'"(PROVENANT_[A-Z_]+)"', source))
    assert read <= set(ENVIRONMENT_VARIABLES)


def test_a_bad_otel_setting_is_refused_when_the_client_is_built() -> None:
    """ProvenantClient(otel=<not a TracerProvider>) raises ConfigurationError at once."""
    with pytest.raises(ConfigurationError, match="otel="):
        ProvenantClient(base_url="sqlite:///unused.db", otel="yes please")
