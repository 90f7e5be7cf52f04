"""The table's price of a call, worked out once per model and shape of usage, is exactly the
``Decimal`` that ``genai_prices.calc_price`` gives for the same usage at the same time."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timezone
from decimal import Decimal
from typing import Any, Iterator

import pytest

# The cost extra needs Python 3.11: on older Pythons it installs nothing.
pytest.importorskip("genai_prices")
from genai_prices import Usage, calc_price, data_snapshot, types

from provenant._cost import _Table

MODELS = [
    ("anthropic", "claude-sonnet-4-20250514"),
    # Tiered by input size until 2026-03-13, one flat price from then on.
    ("anthropic", "claude-sonnet-4-6"),
    ("anthropic", "claude-opus-4-6"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),  # cheaper from 2025-06-10
    ("openai", "o3-mini"),
    ("google", "gemini-2.5-pro"),  # tiered by input size
    ("google", "gemini-3-pro-preview"),
    ("deepseek", "deepseek-chat"),  # cheaper off-peak, 16:30 to 00:30 UTC
    ("mistral", "mistral-ocr-latest"),  # three price changes
    ("perplexity", "sonar"),  # a price per thousand requests
    ("perplexity", "sonar-deep-research"),  # reasoning tokens at a price of their own
    ("litellm", "anthropic/claude-sonnet-4-20250514"),
]

USAGES = [
    # Anthropic's shape: cache reads and writes inside the whole input.
    {
        "input_tokens": 3920,
        "cache_read_tokens": 3000,
        "cache_write_tokens": 800,
        "output_tokens": 40,
    },
    # OpenAI's: cached input, reasoning inside the output.
    {
        "input_tokens": 1088,
        "cache_read_tokens": 1024,
        "output_tokens": 900,
        "output_reasoning_tokens": 800,
    },
    # Past the 200k-token tier of the tiered models.
    {
        "input_tokens": 300_000,
        "cache_read_tokens": 120_000,
        "cache_write_tokens": 4_000,
        "output_tokens": 5_000,
        "output_reasoning_tokens": 2_000,
    },
    # Counts reported as 0, and a reply that reports only part of its usage.
    {"input_tokens": 57, "cache_read_tokens": 0, "output_tokens": 0, "output_reasoning_tokens": 0},
    {"output_tokens": 12},
    {"input_tokens": 7},
]

DATES = [
    datetime(2025, 5, 1, 3, 0, tzinfo=timezone.utc),  # before o3's and Mistral OCR's changes
    datetime(2025, 7, 1, 20, 0, tzinfo=timezone.utc),  # off-peak for DeepSeek
    datetime(2026, 3, 12, 23, 59, tzinfo=timezone.utc),  # the day before Claude 4.6's change
    datetime(2026, 3, 13, 0, 0, tzinfo=timezone.utc),
    datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc),
]


def table_price(provider: str, model: str, counts: dict[str, int], at: datetime) -> Any:
    """genai-prices' own price, or the error it raises."""
    try:
        return calc_price(
            Usage(**counts), model, provider_id=provider, genai_request_timestamp=at
        ).total_price
    except (LookupError, ValueError) as exc:
        return type(exc)


def cached_price(
    table: _Table, provider: str, model: str, counts: dict[str, int], at: datetime
) -> Any:
    try:
        return table.cost(provider, model, counts, at)
    except (LookupError, ValueError) as exc:
        return type(exc)


def same(got: Any, expected: Any) -> bool:
    """The same Decimal down to its digits and exponent (or the same error)."""
    if isinstance(expected, Decimal):
        return isinstance(got, Decimal) and got.as_tuple() == expected.as_tuple()
    return bool(got == expected)


@pytest.fixture
def table() -> Iterator[_Table]:
    yield _Table()


def test_every_price_is_the_one_calc_price_gives(table: _Table) -> None:
    """For each model, usage and date: the first call of a shape (priced by calc_price), the
    calls after it (by the plan kept for it) and a call of other counts of the same shape
    (the plan again, on new numbers) all give calc_price's Decimal."""
    differ = []
    for (provider, model), counts, at in itertools.product(MODELS, USAGES, DATES):
        scaled = {name: value * 3 + (value > 0) for name, value in counts.items()}
        for usage in (counts, counts, scaled, counts):
            expected = table_price(provider, model, usage, at)
            got = cached_price(table, provider, model, usage, at)
            if not same(got, expected):
                differ.append((provider, model, usage, at, got, expected))
    assert differ == []
    # The calls after the first of each shape were priced by a plan, not calc_price.
    assert table._plans and all(plan is not None for plan in table._plans.values())


def test_dated_prices_change_at_their_date_and_time_of_day(table: _Table) -> None:
    """The price valid at the call's time is used: o3 before and after its cut, Claude
    Sonnet 4.6 across its change (its long-context tier dropped), DeepSeek at peak and
    off-peak hours."""
    for provider, model, counts, before, after in [
        ("openai", "o3", USAGES[0], datetime(2025, 6, 9, 23, tzinfo=timezone.utc), DATES[1]),
        ("anthropic", "claude-sonnet-4-6", USAGES[2], DATES[2], DATES[3]),
        (
            "deepseek",
            "deepseek-chat",
            USAGES[0],
            datetime.combine(DATES[4].date(), time(12), timezone.utc),
            datetime.combine(DATES[4].date(), time(20), timezone.utc),
        ),
    ]:
        for _ in range(2):  # the first call of each, then the plan
            early = table.cost(provider, model, counts, before)
            late = table.cost(provider, model, counts, after)
            assert early != late, model
            assert same(early, table_price(provider, model, counts, before))
            assert same(late, table_price(provider, model, counts, after))


def test_tokens_past_a_tier_are_priced_at_its_rate(table: _Table) -> None:
    """A tiered price picks its tier by the whole input, as calc_price does."""
    at = DATES[4]
    small = {"input_tokens": 200_000, "output_tokens": 1_000}
    large = {"input_tokens": 200_001, "output_tokens": 1_000}
    for _ in range(2):
        below = table.cost("google", "gemini-2.5-pro", small, at)
        above = table.cost("google", "gemini-2.5-pro", large, at)
        assert above > below * Decimal("1.5")  # one token more: every token at the higher rate
        assert same(above, table_price("google", "gemini-2.5-pro", large, at))


def test_usage_genai_prices_refuses_is_refused_alike(table: _Table) -> None:
    """More cache reads than input tokens: calc_price raises, and so does the table, on the
    first call of the shape and once a plan is kept for it."""
    good = {"input_tokens": 100, "cache_read_tokens": 50, "output_tokens": 5}
    bad = {"input_tokens": 100, "cache_read_tokens": 150, "output_tokens": 5}
    at = DATES[4]
    with pytest.raises(ValueError):
        table.cost("openai", "gpt-4o", bad, at)
    assert same(table.cost("openai", "gpt-4o", good, at), table_price("openai", "gpt-4o", good, at))
    with pytest.raises(ValueError):
        table.cost("openai", "gpt-4o", bad, at)


def test_a_model_the_table_lacks_has_no_price(table: _Table) -> None:
    at = DATES[4]
    for _ in range(2):
        assert table.cost("openai", "gpt-made-up", {"input_tokens": 1}, at) is None
        assert table.cost("no-such-provider", "gpt-4o", {"input_tokens": 1}, at) is None


def test_an_updated_table_is_priced_from_then_on(table: _Table) -> None:
    """When the table is replaced (genai-prices' UpdatePrices sets a snapshot of its own),
    calls are priced from the new one, not from what was kept of the old."""
    model = "claude-sonnet-4-20250514"
    counts = {"input_tokens": 1_000, "output_tokens": 100}
    at = DATES[4]
    for _ in range(2):
        bundled = table.cost("anthropic", model, counts, at)
    updated = data_snapshot.DataSnapshot(
        providers=[
            types.Provider(
                id="anthropic",
                name="Anthropic",
                api_pattern="https://api.anthropic.com",
                models=[
                    types.ModelInfo(
                        id=model,
                        match=types.ClauseEquals(equals=model),
                        prices=types.ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2)),
                    )
                ],
            )
        ],
        from_auto_update=True,
    )
    data_snapshot.set_custom_snapshot(updated)
    try:
        for _ in range(2):
            assert table.cost("anthropic", model, counts, at) == Decimal("0.0012")
        assert table.cost("anthropic", "claude-opus-4-6", counts, at) is None
    finally:
        data_snapshot.set_custom_snapshot(None)
    assert same(table.cost("anthropic", model, counts, at), bundled)
