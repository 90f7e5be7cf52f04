"""The documentation builds strictly and keeps up with the code it describes."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import provenant
from provenant.config import ENVIRONMENT_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _mkdocs() -> list[str]:
    script = Path(sys.executable).with_name("mkdocs")
    if script.exists():
        return [str(script)]
    found = shutil.which("mkdocs")
    if found is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    return [found]


def test_mkdocs_build_strict_passes(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds: no broken link, anchor, reference or docstring."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [*_mkdocs(), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "reference" / "client" / "index.html").exists()


def test_configuration_page_lists_every_variable_and_option() -> None:
    """Every PROVENANT_* variable and every ProvenantClient option has a row in the table."""
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    table = "\n".join(rows)
    for variable in ENVIRONMENT_VARIABLES:
        assert f"`{variable}`" in table, variable
    options = inspect.signature(provenant.ProvenantClient.__init__).parameters
    for option in options:
        if option != "self":
            assert re.search(rf"^\| `{option}` \|", table, re.MULTILINE), option


def test_api_reference_documents_the_whole_public_surface() -> None:
    """Every name in provenant.__all__ is rendered by the API reference pages."""
    reference = "\n".join(
        page.read_text(encoding="utf-8") for page in (DOCS / "reference").glob("*.md")
    )
    for name in provenant.__all__:
        if name == "__version__":
            continue
        documented = f"::: provenant.{name}" in reference or re.search(
            rf"^\s+- {name}$", reference, re.MULTILINE
        )
        assert documented, name


def test_readme_first_screen_has_the_two_commands() -> None:
    """The README's first 30 lines hold the demo command and the test command, as CI runs them."""
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:30])
    assert "pip install -e '.[anthropic]' && provenant demo" in first_screen
    test_command = "pip install -c requirements/dev.lock -e '.[dev]' && python -m pytest"
    assert test_command in first_screen
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_every_command_the_docs_name_exists() -> None:
    """Each `provenant COMMAND [SUBCOMMAND]` written in the docs and README parses."""
    from provenant._cli import build_parser

    pages = [*DOCS.glob("*.md"), ROOT / "README.md"]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    commands = set(re.findall(r"(?:^|`|\$ )provenant ([a-z]+(?: [a-z]+)?)", text, re.MULTILINE))
    assert {"demo", "serve", "sessions show", "eval run"} <= commands
    parser = build_parser()
    for command in sorted(commands):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*command.split(), "--help"])
        assert exit_info.value.code == 0, command


def test_readme_links_point_at_files_that_exist() -> None:
    """Every relative link of the README names a file or directory of the repository."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert targets
    for target in targets:
        assert (ROOT / target).exists(), target
