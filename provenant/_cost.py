"""
What one LLM call cost, priced on the exporter's worker as its ASSISTANT turn is built.

::

    fields = price_reply(prices, "openai", "gpt-4o-2024-08-06", reply, started, "gpt-4o")
    # {"costUsd": 0.0105}, {"priceUnknown": True}, or {} (nothing to price with)

The user's own prices (:mod:`provenant._prices`) win over the table. The table is the one
bundled with ``genai-prices`` (the ``cost`` extra), imported here on first use, never by
the caller's thread; its online update (``genai_prices.UpdatePrices``) is never started,
so pricing opens no socket. A model neither knows gets ``priceUnknown``, never a $0 cost,
and no price is guessed from a model name's prefix.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Mapping, Optional, Protocol

from provenant._logging import log_fault
from provenant._prices import ModelPrices

__all__ = ["format_usd", "price_reply"]

_PER_TOKENS = 1_000_000
# Models the table does not know, remembered so that each is looked up once (a miss
# walks the provider's whole model list); bounded, since model names come from replies.
_MAX_UNKNOWN = 256


class TokenUsage(Protocol):
    """What a reply reports of its tokens (``integrations._extract.ReplyInfo`` has these)."""

    input_tokens: Optional[int]
    output_tokens: Optional[int]
    cache_read_tokens: Optional[int]
    cache_creation_tokens: Optional[int]
    reasoning_tokens: Optional[int]


class _Table:
    """``genai_prices`` imported once, on first use; ``None`` when it is not installed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self._module: Any = None
        self._unknown: set[tuple[str, str]] = set()

    def module(self) -> Any:
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._module = _import_genai_prices()
                    self._loaded = True
        return self._module

    def cost(self, provider: str, model: str, counts: Mapping[str, int], at: datetime) -> Any:
        """The table's price of ``counts`` (a ``Decimal``), or ``None`` when it has none."""
        module = self.module()
        key = (provider, model)
        if module is None or key in self._unknown:
            return None
        try:
            priced = module.calc_price(
                module.Usage(**counts), model, provider_id=provider, genai_request_timestamp=at
            )
        except LookupError:
            with self._lock:
                if len(self._unknown) >= _MAX_UNKNOWN:
                    self._unknown.clear()
                self._unknown.add(key)
            return None
        return priced.total_price


def _import_genai_prices() -> Any:
    try:
        import genai_prices
    except ImportError:
        return None  # the `cost` extra is not installed: the table prices nothing
    except Exception as exc:
        log_fault("cost-table", "genai-prices could not be imported; its table prices nothing", exc)
        return None
    return genai_prices


_table = _Table()


def _counts(usage: TokenUsage) -> dict[str, int]:
    """The reply's tokens under ``genai-prices``' names (inputs and outputs are totals)."""
    counts: dict[str, int] = {}
    for name, value in (
        ("input_tokens", usage.input_tokens),
        ("output_tokens", usage.output_tokens),
        ("cache_read_tokens", usage.cache_read_tokens),
        ("cache_write_tokens", usage.cache_creation_tokens),
        ("output_reasoning_tokens", usage.reasoning_tokens),
    ):
        if type(value) is int and value >= 0:
            counts[name] = value
    return counts


def _own_cost(prices: ModelPrices, counts: Mapping[str, int]) -> Decimal:
    """The user's prices applied as ``genai-prices`` applies a table entry: a share with
    a price of its own (cache reads and writes, reasoning) is taken out of its total."""
    uncached = counts.get("input_tokens", 0)
    answered = counts.get("output_tokens", 0)
    total = Decimal(0)
    for share, price in (
        ("cache_read_tokens", prices.cache_read_mtok),
        ("cache_write_tokens", prices.cache_write_mtok),
    ):
        if price is not None:
            total += counts.get(share, 0) * price
            uncached -= counts.get(share, 0)
    if prices.output_reasoning_mtok is not None:
        total += counts.get("output_reasoning_tokens", 0) * prices.output_reasoning_mtok
        answered -= counts.get("output_reasoning_tokens", 0)
    if uncached < 0 or answered < 0:
        raise ValueError("the reply's cache or reasoning tokens exceed its input or output")
    total += uncached * prices.input_mtok + answered * prices.output_mtok
    return total / _PER_TOKENS


def price_reply(
    prices: Optional[Mapping[str, ModelPrices]],
    provider: str,
    model: Optional[str],
    usage: TokenUsage,
    started: float,
    requested: Optional[str] = None,
) -> dict[str, Any]:
    """
    The cost fields of one call's ASSISTANT turn metadata. Never raises.

    Args:
        prices: The client's own prices by model name (``Settings.prices``).
        provider: ``genai-prices``' provider id (``"anthropic"``, ``"openai"``).
        model: The model the reply names (else the one requested).
        usage: The reply's token counts.
        started: ``time.perf_counter()`` when the call began: the table's price is the
            one valid then.
        requested: The model the call asked for: the user's prices are looked up by
            ``model``, then by this name (an alias the reply names by its dated id).

    Returns:
        ``{"costUsd": float}`` when priced; ``{"priceUnknown": True}`` when neither the
        user's prices nor the table know the model; ``{}`` when the reply reports no
        tokens, or there is nothing to price with (no table installed, no prices given).
    """
    try:
        counts = _counts(usage)
        if "input_tokens" not in counts and "output_tokens" not in counts:
            return {}
        own = None
        if prices:
            own = prices.get(model or "") or prices.get(requested or "")
        if own is not None:
            return {"costUsd": float(_own_cost(own, counts))}
        cost = None
        if model is not None:
            at = datetime.now(timezone.utc) - timedelta(seconds=time.perf_counter() - started)
            cost = _table.cost(provider, model, counts, at)
        if cost is not None:
            return {"costUsd": float(cost)}
        if prices or _table.module() is not None:
            return {"priceUnknown": True}
        return {}
    except Exception as exc:
        log_fault("cost", f"could not price a call of {model!r}; recorded it without a cost", exc)
        return {}


def format_usd(cost_usd: Optional[float], partial: bool = False) -> str:
    """
    A cost as people read it: ``$12.40``, ``$0.003225`` (to the millionth of a dollar).

    ``partial`` (a call's price unknown) adds ``+``: at least that much. No known cost
    reads ``-``, or ``?`` when it is unknown.
    """
    if cost_usd is None:
        return "?" if partial else "-"
    if abs(cost_usd) >= 1 or cost_usd == 0:
        text = f"${cost_usd:,.2f}"
    elif abs(cost_usd) < 0.000_000_5:
        text = "<$0.000001"
    else:
        whole, _, cents = f"{cost_usd:.6f}".partition(".")
        text = f"${whole}.{cents.rstrip('0').ljust(2, '0')}"
    return text + "+" if partial else text
