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
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping, Optional, Protocol, Tuple, Union

from provenant._logging import log_fault
from provenant._prices import ModelPrices

__all__ = ["format_usd", "price_reply"]

_PER_TOKENS = 1_000_000
# Models the table does not know, remembered so that each is looked up once (a miss
# walks the provider's whole model list); bounded, since model names come from replies.
_MAX_UNKNOWN = 256
# Models the table knows, each with its entry; bounded for the same reason.
_MAX_MODELS = 256
# Ways to price: one per table price and shape of usage (which token counts a reply
# reports, and which of them are not zero): a few per model.
_MAX_PLANS = 1024


class TokenUsage(Protocol):
    """What a reply reports of its tokens (``integrations._extract.ReplyInfo`` has these)."""

    input_tokens: Optional[int]
    output_tokens: Optional[int]
    cache_read_tokens: Optional[int]
    cache_creation_tokens: Optional[int]
    reasoning_tokens: Optional[int]


class _Plan:
    """
    How ``genai-prices`` prices one shape of usage with one table price, worked out once.

    ``ModelPrice.calc_price`` splits the usage into disjoint counts (input less its cache
    reads and writes, output less its reasoning...) through its unit registry, checking
    the price and the usage each time: a few hundred microseconds. Those counts are
    sums and differences of the reply's counts, the same for every reply of a shape, so
    the plan keeps, per priced unit and in the table's order, which of the reply's
    counts add up to it; a call then does only the arithmetic ``calc_price`` does
    (``price * count / per``, summed in the same order in the same ``Decimal``
    context), so its result is the very same ``Decimal``.
    """

    __slots__ = ("model_price", "tier_terms", "units")

    def __init__(
        self,
        model_price: Any,
        units: tuple[tuple[int, Any, _Count, Decimal], ...],
        tier_terms: _Count,
    ) -> None:
        self.model_price = model_price  # kept: the plans are found by its id()
        # (kind, price, its count, per), in the order ModelPrice.calc_price adds them up;
        # a _FIXED unit's count never changes: its "price" is what it adds, worked out once.
        self.units = units
        # What a tiered price's tier is chosen by (the whole input), when one is tiered.
        self.tier_terms = tier_terms

    def price(self, counts: Mapping[str, int], unit_price: Any) -> Optional[Decimal]:
        """The price of ``counts``; ``None`` when a count comes out negative (``genai-prices``
        then raises its own error, which the caller lets it give)."""
        tier_input = 0 if self.tier_terms is None else _count(self.tier_terms, counts)
        total = Decimal(0)
        for kind, price, terms, per in self.units:
            if kind == _FIXED:
                total += price
                continue
            count = _count(terms, counts)
            if count < 0:
                return None
            if kind == _FLAT:
                # calc_unit_price's steps for a flat price; `per` a Decimal of the same int.
                total += price * Decimal(count) / per
            else:
                total += unit_price(price, count, tier_input, per)
        return total


_FLAT, _TIERED, _FIXED = 0, 1, 2
# A count as the plan works it out from the reply's: one of them by name, None for the
# one request a price per request counts, or a sum of them each added or taken away.
_Count = Union[str, None, Tuple[Tuple[str, int], ...]]


def _count(terms: _Count, counts: Mapping[str, int]) -> int:
    if isinstance(terms, str):
        return counts[terms]
    if terms is None:
        return 1
    count = 0
    for name, sign in terms:
        count += sign * counts[name]
    return count


def _make_plan(module: Any, model_price: Any, counts: Mapping[str, int]) -> _Plan:
    """
    The plan of ``model_price`` for replies shaped as ``counts``, found with
    ``genai-prices``' own registry and steps (``ModelPrice.calc_price``): raises, as it
    would, when the price or this shape of usage is one it refuses.
    """
    types = module.types
    registry = module.units._get_registry()
    resolved = types._collect_resolved_model_prices(model_price, registry)
    module.validation.validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    usage = module.Usage(**counts)
    is_descendant_or_self = module.decompose.is_descendant_or_self

    def reported(name: str) -> dict[str, int]:
        # What the usage gives for `name`: the reply's count, else genai-prices' inference
        # (0, or an error for a shape it cannot split).
        if name in counts:
            return {name: 1}
        if getattr(usage, name, None) not in (None, 0):
            raise ValueError(f"genai-prices infers a count of {name} this plan cannot follow")
        return {}

    # compute_leaf_values: the most specific units first, each less its priced descendants.
    priced = sorted(
        {unit.usage_key: unit for unit, _ in resolved if unit.usage_key != "requests"}.values(),
        key=lambda unit: (-len(unit.dimensions), unit.usage_key),
    )
    leaves: dict[str, dict[str, int]] = {}
    for unit in priced:
        terms = reported(unit.usage_key)
        for other in priced:
            if other is not unit and is_descendant_or_self(unit, other):
                for name, sign in leaves[other.usage_key].items():
                    terms[name] = terms.get(name, 0) - sign
        leaves[unit.usage_key] = terms

    def flat(terms: dict[str, int]) -> _Count:
        kept = tuple((name, sign) for name, sign in terms.items() if sign)
        if len(kept) == 1 and kept[0][1] == 1:
            return kept[0][0]
        return kept

    tiered_prices = types.TieredPrices
    units: list[tuple[int, Any, _Count, Decimal]] = []
    for unit, price in resolved:
        count = None if unit.usage_key == "requests" else flat(leaves[unit.usage_key])
        per = Decimal(unit.per)
        if isinstance(price, tiered_prices):
            units.append((_TIERED, price, count, per))
        elif count is None or count == ():  # one request, or a count always 0 here
            units.append((_FIXED, price * Decimal(_count(count, {})) / per, count, per))
        else:
            units.append((_FLAT, price, count, per))
    tiered = any(kind == _TIERED for kind, *_ in units)
    return _Plan(model_price, tuple(units), flat(reported("input_tokens")) if tiered else None)


class _Table:
    """``genai_prices`` imported once, on first use; ``None`` when it is not installed.

    Each known model's table entry is kept, and a plan per table price and shape of
    usage (:class:`_Plan`), so pricing a call costs microseconds. Its price is exactly
    ``genai_prices.calc_price``'s: the price valid at the call's time is chosen by the
    entry's own ``get_prices``, and a plan is checked against ``calc_price`` the first
    time it is used; anything a plan does not cover is priced by ``calc_price`` itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self._module: Any = None
        self._snapshot: Any = None
        self._unknown: set[tuple[str, str]] = set()
        self._models: dict[tuple[str, str], Any] = {}
        # A plan, or None for a shape priced by calc_price (a plan refused or differed).
        self._plans: dict[tuple[Any, ...], Optional[_Plan]] = {}

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
        if module is None:
            return None
        snapshot = module.data_snapshot.get_snapshot()
        if snapshot is not self._snapshot:  # the first call, or the user updated the table
            with self._lock:
                self._unknown.clear()
                self._models.clear()
                self._plans.clear()
                self._snapshot = snapshot
        key = (provider, model)
        entry = self._models.get(key)
        if entry is None:
            if key in self._unknown:
                return None
            try:
                entry = snapshot.find_provider_model(model, None, provider, None)
            except LookupError:
                self._remember(self._unknown, key, None, _MAX_UNKNOWN)
                return None
            self._remember(self._models, key, entry, _MAX_MODELS)
        found, info = entry
        if found.id == "groq":  # genai-prices bills some of its audio models apart
            return self._calc_price(module, provider, model, counts, at)
        model_price = info.get_prices(at)
        # The plans of a price, by which counts the reply reports and which are not 0.
        shape = (id(model_price), *counts, *map(bool, counts.values()))
        try:
            plan = self._plans[shape]
        except KeyError:
            return self._first(module, provider, model, counts, at, model_price, shape)
        if plan is not None:
            if plan.model_price is not model_price:  # another price took its id
                return self._first(module, provider, model, counts, at, model_price, shape)
            cost = plan.price(counts, module.types.calc_unit_price)
            if cost is not None:
                return cost
        return self._calc_price(module, provider, model, counts, at)

    def _first(
        self,
        module: Any,
        provider: str,
        model: str,
        counts: Mapping[str, int],
        at: datetime,
        model_price: Any,
        shape: tuple[Any, ...],
    ) -> Any:
        """The first call of a shape: priced by ``calc_price``, then a plan is made and
        kept if it prices this call exactly alike (else the shape stays with ``calc_price``)."""
        expected = self._calc_price(module, provider, model, counts, at)
        plan: Optional[_Plan]
        try:
            plan = _make_plan(module, model_price, counts)
            got = plan.price(counts, module.types.calc_unit_price)
        except ValueError:
            plan = None  # a shape genai-prices prices some other way: calc_price prices it
        except Exception as exc:  # a genai-prices whose insides differ from this one's
            log_fault("cost-plan", f"could not plan the pricing of {model!r}", exc)
            plan = None
        else:
            if got is None or got.as_tuple() != expected.as_tuple():
                log_fault(
                    "cost-plan",
                    f"pricing {model!r} by plan gave {got}, genai-prices {expected}; "
                    "its calls are priced by genai-prices itself",
                )
                plan = None
        self._remember(self._plans, shape, plan, _MAX_PLANS)
        return expected

    def _remember(self, cache: Any, key: Any, value: Any, bound: int) -> None:
        with self._lock:
            if len(cache) >= bound:
                cache.clear()
            if isinstance(cache, set):
                cache.add(key)
            else:
                cache[key] = value

    @staticmethod
    def _calc_price(
        module: Any, provider: str, model: str, counts: Mapping[str, int], at: datetime
    ) -> Any:
        priced = module.calc_price(
            module.Usage(**counts), model, provider_id=provider, genai_request_timestamp=at
        )
        return priced.total_price


def _import_genai_prices() -> Any:
    try:
        import genai_prices
        import genai_prices.data_snapshot
        import genai_prices.decompose
        import genai_prices.types
        import genai_prices.units
        import genai_prices.validation
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
            ago = time.perf_counter() - started
            at = datetime.fromtimestamp(time.time() - ago, timezone.utc)
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
