"""
What pricing one LLM call costs the background worker, against ``genai_prices.calc_price``.

    python benchmarks/bench_cost.py [--rounds 31] [--calls 2000]

The worker prices each call's reply from ``genai-prices``' table (the ``cost`` extra) as
it builds the ASSISTANT turn. ``calc_price`` looks the model up, checks the price and
splits the usage through its unit registry on every call; ``provenant._cost`` keeps each
model's entry and, per table price and shape of usage, how the usage splits, so a call
does only the arithmetic. One process prices the same mix of calls (Anthropic with cache
reads and writes, OpenAI with cached input and reasoning, a tiered Gemini price past its
tier, a model priced by date) both ways, in interleaved rounds, and prints the median CPU
time per priced call (``time.thread_time()``), each beside the other:

- ``calc_price``: ``genai_prices.calc_price(Usage(...), model, provider_id=...,
  genai_request_timestamp=...)``, the way calls were priced before (the baseline);
- ``table``: ``provenant._cost``'s table, the same usage and time;
- ``price_reply``: the whole of what the worker does per call with the table (reading
  the reply's counts, the call's time, the table), target <= 10 us.

Every call's price is checked to be the very ``Decimal`` ``calc_price`` gives. The
machine's other load shows in the figures (2 shared cores here): compare the lines of
one run with each other, not across runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Callable

from genai_prices import Usage, calc_price

from provenant._cost import _table, price_reply

_TARGET_US = 10.0

# (provider, model, the reply's uncached input, output, cache and reasoning tokens)
_CALLS: list[tuple[str, str, dict[str, int]]] = [
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        {"input": 120, "output": 40, "cache_read": 3000, "cache_creation": 800},
    ),
    ("openai", "o3-mini", {"input": 64, "output": 900, "cache_read": 1024, "reasoning": 800}),
    ("openai", "gpt-4o-mini", {"input": 1000, "output": 100, "cache_read": 0, "reasoning": 0}),
    ("google", "gemini-2.5-pro", {"input": 250_000, "output": 2_000, "cache_read": 10_000}),
    ("anthropic", "claude-sonnet-4-6", {"input": 500, "output": 60, "cache_read": 2000}),
]


def reply(counts: dict[str, int]) -> Any:
    """A reply's token counts as ``integrations._extract.ReplyInfo`` gives them: its input
    the whole prompt, cached tokens included (``input`` above is the uncached part)."""
    return SimpleNamespace(
        input_tokens=counts["input"]
        + counts.get("cache_read", 0)
        + counts.get("cache_creation", 0),
        output_tokens=counts["output"],
        cache_read_tokens=counts.get("cache_read"),
        cache_creation_tokens=counts.get("cache_creation"),
        reasoning_tokens=counts.get("reasoning"),
    )


def table_counts(info: Any) -> dict[str, int]:
    """The reply's counts under genai-prices' names, as ``price_reply`` hands them over."""
    names = {
        "input_tokens": info.input_tokens,
        "output_tokens": info.output_tokens,
        "cache_read_tokens": info.cache_read_tokens,
        "cache_write_tokens": info.cache_creation_tokens,
        "output_reasoning_tokens": info.reasoning_tokens,
    }
    return {name: value for name, value in names.items() if value is not None}


def per_call_us(work: Callable[[], None], calls: int) -> float:
    start = time.thread_time()
    work()
    return (time.thread_time() - start) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (table)")
    args = parser.parse_args()

    at = datetime.now(timezone.utc)
    replies = [(provider, model, reply(counts)) for provider, model, counts in _CALLS]
    priced = [(provider, model, table_counts(info)) for provider, model, info in replies]

    # The same Decimal both ways, on the first call of each shape and on the calls after.
    for _ in range(3):
        for provider, model, counts in priced:
            expected = calc_price(
                Usage(**counts), model, provider_id=provider, genai_request_timestamp=at
            ).total_price
            got = _table.cost(provider, model, counts, at)
            if got is None or got.as_tuple() != expected.as_tuple():
                print(f"MISMATCH {model}: table {got}, calc_price {expected}")
                return 1

    table_calls = args.calls - args.calls % len(priced)
    old_calls = max(len(priced), table_calls // 20)  # calc_price is slow: fewer calls

    def old() -> None:
        for _ in range(old_calls // len(priced)):
            for provider, model, counts in priced:
                calc_price(Usage(**counts), model, provider_id=provider, genai_request_timestamp=at)

    def new() -> None:
        for _ in range(table_calls // len(priced)):
            for provider, model, counts in priced:
                _table.cost(provider, model, counts, at)

    started = time.perf_counter()

    def whole() -> None:
        for _ in range(table_calls // len(priced)):
            for provider, model, info in replies:
                price_reply(None, provider, model, info, started)

    rounds: dict[str, list[float]] = {"calc_price": [], "table": [], "price_reply": []}
    for _ in range(args.rounds):
        rounds["calc_price"].append(per_call_us(old, old_calls))
        rounds["table"].append(per_call_us(new, table_calls))
        rounds["price_reply"].append(per_call_us(whole, table_calls))

    medians = {name: statistics.median(values) for name, values in rounds.items()}
    print(
        f"CPU per priced call, median of {args.rounds} interleaved rounds ({len(priced)} models):"
    )
    print(f"  calc_price (baseline)  {medians['calc_price']:8.1f} us")
    print(
        f"  table                  {medians['table']:8.1f} us"
        f"   ({medians['calc_price'] / medians['table']:.0f}x less)"
    )
    met = medians["price_reply"] <= _TARGET_US
    print(
        f"  price_reply            {medians['price_reply']:8.1f} us"
        f"   target <= {_TARGET_US:.0f} us: {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
