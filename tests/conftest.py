"""Fixtures shared by the whole suite (the provenant.testing plugin adds the server ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def _spool_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Each test's spool files in a directory of its own (never the user's state dir)."""
    path = tmp_path_factory.mktemp("spool")
    monkeypatch.setenv("PROVENANT_SPOOL_DIR", str(path))
    yield path
