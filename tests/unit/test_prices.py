"""Your own prices, `prices=` and `PROVENANT_PRICES_FILE`: checked as the client is built."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from provenant import config
from provenant._prices import ModelPrices
from provenant.client import ProvenantClient
from provenant.config import ENVIRONMENT_VARIABLES, resolve_settings
from provenant.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("PROVENANT_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config, "_implicit_notice_given", True)
    yield


def write(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def test_no_prices_by_default() -> None:
    """Without prices= or the file, the settings carry no prices of their own."""
    assert resolve_settings(base_url="local").prices is None


def test_prices_are_read_as_exact_decimals() -> None:
    """Prices are kept as decimals of what was written (0.3 stays 0.3), optional ones None."""
    settings = resolve_settings(
        base_url="local",
        prices={"my-model": {"input_mtok": 0.3, "output_mtok": 15, "cache_read_mtok": 0.03}},
    )
    assert settings.prices == {
        "my-model": ModelPrices(
            input_mtok=Decimal("0.3"), output_mtok=Decimal(15), cache_read_mtok=Decimal("0.03")
        )
    }


def test_the_file_is_read_and_prices_win_model_by_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROVENANT_PRICES_FILE gives prices; prices= wins for the models it names, the file's
    other models stay."""
    path = write(
        tmp_path / "prices.json",
        {
            "a-model": {"input_mtok": 1, "output_mtok": 2},
            "b-model": {"input_mtok": 3, "output_mtok": 4},
        },
    )
    monkeypatch.setenv("PROVENANT_PRICES_FILE", path)
    client = ProvenantClient(
        base_url="local", prices={"b-model": {"input_mtok": 5, "output_mtok": 6}}
    )
    prices = client.settings.prices
    assert prices is not None
    assert prices["a-model"].input_mtok == 1
    assert (prices["b-model"].input_mtok, prices["b-model"].output_mtok) == (5, 6)
    assert "PROVENANT_PRICES_FILE" in ENVIRONMENT_VARIABLES


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        (["gpt-4o"], "must map model names"),
        ({"m": 3}, "must be an object of prices"),
        ({"m": {"input_mtok": 1}}, "needs output_mtok"),
        ({"m": {"output_mtok": 1}}, "needs input_mtok"),
        ({"m": {"input_mtok": 1, "output_mtok": 2, "input": 3}}, "unknown keys input"),
        ({"m": {"input_mtok": -1, "output_mtok": 2}}, "must not be negative"),
        ({"m": {"input_mtok": "1", "output_mtok": 2}}, "must be a number"),
        ({"m": {"input_mtok": True, "output_mtok": 2}}, "must be a number"),
        ({"m": {"input_mtok": float("nan"), "output_mtok": 2}}, "finite"),
        ({"": {"input_mtok": 1, "output_mtok": 2}}, "non-empty string"),
    ],
)
def test_a_bad_price_list_is_refused_when_the_client_is_built(prices: Any, message: str) -> None:
    """A price list of the wrong shape raises ConfigurationError saying what is wrong, at
    once, rather than pricing a part at $0 later."""
    with pytest.raises(ConfigurationError, match=message):
        ProvenantClient(base_url="local", prices=prices)


def test_a_missing_or_broken_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prices file that cannot be read, is not JSON, or has a bad entry raises
    ConfigurationError naming the file."""
    monkeypatch.setenv("PROVENANT_PRICES_FILE", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        ProvenantClient(base_url="local")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("PROVENANT_PRICES_FILE", str(broken))
    with pytest.raises(ConfigurationError, match="is not JSON"):
        ProvenantClient(base_url="local")
    bad = write(tmp_path / "bad.json", {"m": {"input_mtok": 1}})
    monkeypatch.setenv("PROVENANT_PRICES_FILE", bad)
    with pytest.raises(ConfigurationError, match=r"bad\.json.*needs output_mtok"):
        ProvenantClient(base_url="local")
