"""
The user's own prices: ``prices=`` on the client and the file ``PROVENANT_PRICES_FILE`` names.

Both take the same shape, USD per million tokens, keyed by the exact name of the model
the reply names or the call asked for::

    {
        "my-finetune-v2": {"input_mtok": 3, "output_mtok": 15},
        "claude-sonnet-4-0": {"input_mtok": 3, "output_mtok": 15,
                              "cache_read_mtok": 0.3, "cache_write_mtok": 3.75},
    }

Read and checked once, when the client is built (a bad entry is a
:class:`~provenant.errors.ConfigurationError` there, never a fault at the first call).
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any, Mapping, Optional

from provenant.errors import ConfigurationError

__all__ = ["PRICES_FILE_VARIABLE", "PRICE_KEYS", "ModelPrices", "parse_prices", "resolve_prices"]

PRICES_FILE_VARIABLE = "PROVENANT_PRICES_FILE"

#: The keys of one model's prices, USD per million tokens (``genai-prices``' own names).
PRICE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_reasoning_mtok",
)
_REQUIRED_KEYS = ("input_mtok", "output_mtok")


@dataclasses.dataclass(frozen=True)
class ModelPrices:
    """
    One model's prices in USD per million tokens.

    A cache or reasoning price left out means those tokens are priced as the rest of the
    input (or output) is, the way ``genai-prices`` reads a table entry without it.
    """

    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Optional[Decimal] = None
    cache_write_mtok: Optional[Decimal] = None
    output_reasoning_mtok: Optional[Decimal] = None


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ConfigurationError(f"{where} must be a number (USD per million tokens).")
    # Through str(): a float's shortest repr (0.3), not its binary expansion.
    price = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not price.is_finite():
        raise ConfigurationError(f"{where} must be a finite number, not {value!r}.")
    if price < 0:
        raise ConfigurationError(f"{where} must not be negative, not {value!r}.")
    return price


def _model_prices(model: Any, entry: Any, source: str) -> ModelPrices:
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"{source}: a model name must be a non-empty string.")
    where = f"{source}[{model!r}]"
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where} must be an object of prices such as input_mtok.")
    unknown = sorted(str(key) for key in entry if key not in PRICE_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where} has unknown keys {', '.join(unknown)}; use {', '.join(PRICE_KEYS)}."
        )
    missing = [key for key in _REQUIRED_KEYS if key not in entry]
    if missing:
        # A part left out would be priced at $0: the very mistake a price list must not make.
        raise ConfigurationError(f"{where} needs {' and '.join(missing)}.")
    values = {key: _price(value, f"{where}[{key!r}]") for key, value in entry.items()}
    return ModelPrices(**values)


def parse_prices(value: Any, source: str = "prices") -> dict[str, ModelPrices]:
    """
    Check a price list and return it as :class:`ModelPrices` by model name.

    Args:
        value: A mapping of model name to its prices (see the module's docstring).
        source: What to call it in an error (``"prices"``, or the file's name).

    Raises:
        ConfigurationError: The list is not of that shape.
    """
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{source} must map model names to prices, not {type(value).__name__}."
        )
    return {model: _model_prices(model, entry, source) for model, entry in value.items()}


def _read_file(path: str) -> dict[str, ModelPrices]:
    try:
        with open(path, encoding="utf-8") as file:
            value = json.load(file)
    except OSError as exc:
        raise ConfigurationError(
            f"{PRICES_FILE_VARIABLE}={path!r} cannot be read: {exc.strerror or exc}."
        ) from exc
    except ValueError as exc:
        raise ConfigurationError(f"{PRICES_FILE_VARIABLE}={path!r} is not JSON: {exc}.") from exc
    return parse_prices(value, path)


def resolve_prices(
    prices: Optional[Mapping[str, Any]], prices_file: Optional[str]
) -> Optional[Mapping[str, ModelPrices]]:
    """
    The client's own prices: the file's, then ``prices=`` over them (model by model).

    Returns:
        ``None`` when neither gives any.

    Raises:
        ConfigurationError: The file cannot be read, or either is not of the documented shape.
    """
    merged: dict[str, ModelPrices] = {}
    if prices_file is not None:
        merged.update(_read_file(prices_file))
    if prices is not None:
        merged.update(parse_prices(prices))
    return merged or None
