"""The committed lock pins every development dependency, within what pyproject.toml asks."""

from __future__ import annotations

import pathlib
import re
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

LOCK = pathlib.Path(__file__).parents[2] / "requirements" / "dev.lock"


def _pins() -> dict[str, list[tuple[Version, str]]]:
    """Each locked name with its versions and their environment markers."""
    pins: dict[str, list[tuple[Version, str]]] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^ ;]+)\s*(?:;\s*(.*))?$", line)
        if found:
            name = re.sub(r"[-_.]+", "-", found.group(1).split("[")[0]).lower()
            pins.setdefault(name, []).append((Version(found.group(2)), found.group(3) or ""))
    return pins


def _dev_requirements() -> list[Requirement]:
    listed = metadata.requires("provenant-sdk") or []
    wanted = []
    for text in listed:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is not None and marker.evaluate({"extra": "dev"}):
            requirement.marker = None
            wanted.append(requirement)
    return wanted


def test_every_dev_dependency_is_locked_within_its_range() -> None:
    """Each requirement of the dev extra has a pin in requirements/dev.lock for this Python,
    inside the range pyproject.toml gives (regenerate the lock when either changes)."""
    pins = _pins()
    here = default_environment()
    assert _dev_requirements(), "the dev extra lists nothing: is the package installed?"
    for requirement in _dev_requirements():
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{name} is not in {LOCK.name}: run the command at its top"
        versions = [
            version
            for version, marker in pins[name]
            if not marker or Requirement(f"x; {marker}").marker.evaluate(here)  # type: ignore[union-attr]
        ]
        assert versions, f"{name} has no pin for this Python in {LOCK.name}"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{name}=={version} in {LOCK.name} is outside {requirement}"
            )
