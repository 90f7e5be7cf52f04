"""The contract's slug rule."""

from __future__ import annotations

import re

import pytest

from provenant.server._slug import slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Support Bot", "support-bot"),
        ("  Support   Bot!! v2 ", "support-bot-v2"),
        ("--Already-slug--", "already-slug"),
        ("café_au_lait", "caf-au-lait"),
        ("A", "a"),
    ],
)
def test_slug_rule(name: str, slug: str) -> None:
    """Lower-case, each run outside [a-z0-9] becomes one '-', edges trimmed."""
    assert slugify(name) == slug


def test_name_without_slug_characters_gets_a_stable_distinct_slug() -> None:
    """A name with nothing left by the rule gets a stable slug that differs between names."""
    first = slugify("客服")
    assert first == slugify("客服")
    assert first != slugify("助手")
    assert re.fullmatch(r"[a-z0-9-]+", first)
