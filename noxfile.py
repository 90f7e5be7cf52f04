"""
Test sessions over the range of provider SDKs that ``pyproject.toml`` claims to support.

The main test run (the README's command) uses the locked set in ``requirements/dev.lock``.
These sessions run the provider integration tests against the oldest ``anthropic`` and
``openai`` releases the extras allow, and against the newest releases on the registry::

    nox -s oldest_provider_sdks      # the floors written in pyproject.toml, pinned
    nox -s newest_provider_sdks      # whatever was released last, unpinned

Everything else in those environments comes from the lock, so a failure names the
provider SDK as its cause.
"""

from __future__ import annotations

import pathlib
import re

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = False

ROOT = pathlib.Path(__file__).parent
LOCK = ROOT / "requirements" / "dev.lock"
PROVIDERS = ("anthropic", "openai")

# The integration tests that drive the real provider SDKs against the fake provider.
PROVIDER_TESTS = [
    "tests/integration/test_anthropic.py",
    "tests/integration/test_openai.py",
    "tests/integration/test_instrument.py",
    "tests/integration/test_guarantees.py",
    "tests/integration/test_resume.py",
    "tests/integration/test_otel_spans.py",
    "tests/integration/test_otel_context.py",
    "tests/integration/test_otel_wire.py",
    "tests/integration/test_evals_llm.py",
]

# What those tests need besides the package and the provider SDKs.
TEST_TOOLS = [
    "pytest",
    "pytest-timeout",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-proto",
]


def provider_floors() -> dict[str, str]:
    """The lowest version of each provider SDK that ``pyproject.toml``'s extras accept."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floors = {}
    for name in PROVIDERS:
        found = re.search(rf'^{name} = \["{name}>=([0-9][0-9.]*)"\]$', text, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"pyproject.toml has no '{name} = [\"{name}>=X\"]' extra")
        floors[name] = found.group(1)
    return floors


def lock_without_providers(session: nox.Session) -> str:
    """The lock as a constraints file, less the provider SDKs (these sessions choose them)."""
    kept = [
        line
        for line in LOCK.read_text(encoding="utf-8").splitlines()
        if not re.match(rf"^({'|'.join(PROVIDERS)})==", line)
    ]
    path = pathlib.Path(session.create_tmp()) / "constraints.txt"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return str(path)


@nox.session
def oldest_provider_sdks(session: nox.Session) -> None:
    """The provider integration tests against the oldest anthropic and openai we claim."""
    pins = [f"{name}=={version}" for name, version in provider_floors().items()]
    session.install("-c", lock_without_providers(session), "-e", ".", *TEST_TOOLS, *pins)
    session.run("pytest", "-q", *PROVIDER_TESTS, *session.posargs)


@nox.session
def newest_provider_sdks(session: nox.Session) -> None:
    """The provider integration tests against the newest anthropic and openai released."""
    session.install("-c", lock_without_providers(session), "-e", ".", *TEST_TOOLS)
    session.install("--upgrade", *PROVIDERS)
    session.run("pytest", "-q", *PROVIDER_TESTS, *session.posargs)
