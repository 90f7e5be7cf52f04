"""make_observer: which provider it uses, and the errors it raises."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk.trace import TracerProvider

from provenant.config import resolve_settings
from provenant.errors import ConfigurationError
from provenant.otel import make_observer


def test_a_tracer_provider_is_used_as_given() -> None:
    """An explicit TracerProvider is the one the observer emits through."""
    provider = TracerProvider()
    settings = resolve_settings(base_url="local", otel=provider)
    observer = make_observer(settings.otel, settings)
    assert observer.tracer_provider is provider
    provider.shutdown()


def test_true_means_the_global_provider() -> None:
    """otel=True uses the global TracerProvider, whatever it is when spans start."""
    from opentelemetry import trace

    settings = resolve_settings(base_url="local", otel=True)
    observer = make_observer(True, settings)
    assert observer.tracer_provider is trace.get_tracer_provider()


def test_a_setting_that_is_no_provider_is_refused() -> None:
    """An otel value that is neither True nor a TracerProvider is a ConfigurationError."""
    settings = resolve_settings(base_url="local")
    with pytest.raises(ConfigurationError, match="TracerProvider"):
        make_observer("yes please", settings)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_opentelemetry_names_the_extra() -> None:
    """Without OpenTelemetry, turning export on raises a ConfigurationError naming the extra."""
    result = _run(
        """
        import sys
        for name in ("opentelemetry", "opentelemetry.trace", "opentelemetry.context"):
            sys.modules[name] = None  # as if the package were not installed
        from provenant.config import resolve_settings
        from provenant.errors import ConfigurationError
        from provenant.otel import make_observer
        try:
            make_observer(True, resolve_settings(base_url="local", otel=True))
        except ConfigurationError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "provenant-sdk[otel]" in result.stdout


def test_a_client_with_otel_but_no_opentelemetry_is_refused_when_built() -> None:
    """Building a client with otel=True but no OpenTelemetry raises ConfigurationError at once."""
    result = _run(
        """
        import sys
        for name in ("opentelemetry", "opentelemetry.trace", "opentelemetry.context"):
            sys.modules[name] = None
        import threading
        from provenant.client import ProvenantClient
        from provenant.errors import ConfigurationError
        try:
            ProvenantClient(base_url="local", otel=True)
        except ConfigurationError as exc:
            print(type(exc).__name__, exc)
        print(sorted(t.name for t in threading.enumerate() if t.name.startswith("provenant")))
        """
    )
    assert result.returncode == 0, result.stderr
    first, threads = result.stdout.strip().splitlines()
    assert first.startswith("ConfigurationError") and "provenant-sdk[otel]" in first
    assert threads == "[]"


def test_opentelemetry_is_not_imported_unless_turned_on() -> None:
    """Importing provenant and building a client without otel imports no OpenTelemetry module."""
    result = _run(
        """
        import sys
        import provenant
        from provenant.client import ProvenantClient
        ProvenantClient(base_url="local")
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
