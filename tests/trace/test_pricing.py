from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import FrozenInstanceError
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import genai_prices.data
import pytest
from genai_prices import Usage
from genai_prices.data_snapshot import DataSnapshot, set_custom_snapshot
from genai_prices.update_prices import UpdatePrices
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import AgentGuardError
from agentguard_trace import pricing
from agentguard_trace.pricing import CallCost, PriceTable, PriceTableError, TokenCountError
from support.api import assert_all_is_public_api

# Anthropic's published prices, USD per million tokens (input, output, cache read, 5m write,
# 1h write), as genai-prices bundles them:
#   claude-sonnet-4-5  3.00  15.00  0.30  3.75   6.00
#     above 200k input 6.00  22.50  0.60  7.50  12.00
#   claude-haiku-4-5   1.00   5.00  0.10  1.25   2.00
#   claude-opus-4-1   15.00  75.00  1.50 18.75  30.00
#   claude-opus-4-5    5.00  25.00  0.50  6.25  10.00


def approx(expected: float) -> Any:
    return pytest.approx(expected, rel=1e-12, abs=0)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable()


def cost_of(table: PriceTable, model: str, **tokens: int) -> CallCost:
    tokens.setdefault("input_tokens", 0)
    tokens.setdefault("output_tokens", 0)
    cost = table.cost(model, **tokens)
    assert cost is not None, model
    return cost


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(pricing)


@pytest.mark.parametrize(
    ("model", "input_usd", "output_usd"),
    [
        ("claude-sonnet-4-5", 1200 * 3.00 / 1e6, 350 * 15.00 / 1e6),
        ("claude-haiku-4-5", 1200 * 1.00 / 1e6, 350 * 5.00 / 1e6),
        ("claude-opus-4-1", 1200 * 15.00 / 1e6, 350 * 75.00 / 1e6),
        ("claude-opus-4-5", 1200 * 5.00 / 1e6, 350 * 25.00 / 1e6),
    ],
)
def test_plain_call(table: PriceTable, model: str, input_usd: float, output_usd: float) -> None:
    cost = cost_of(table, model, input_tokens=1200, output_tokens=350)
    assert cost.input_usd == approx(input_usd)
    assert cost.output_usd == approx(output_usd)
    assert cost.total_usd == approx(input_usd + output_usd)
    assert cost.cache_read_usd == cost.cache_write_5m_usd == cost.cache_write_1h_usd == 0.0
    assert cost.without_cache_usd == cost.total_usd


@pytest.mark.parametrize(
    ("model", "parts"),
    [
        (
            "claude-sonnet-4-5",
            {
                "input_usd": 800 * 3.00 / 1e6,
                "output_usd": 500 * 15.00 / 1e6,
                "cache_read_usd": 40_000 * 0.30 / 1e6,
                "cache_write_5m_usd": 3_000 * 3.75 / 1e6,
                "cache_write_1h_usd": 2_000 * 6.00 / 1e6,
            },
        ),
        (
            "claude-haiku-4-5",
            {
                "input_usd": 800 * 1.00 / 1e6,
                "output_usd": 500 * 5.00 / 1e6,
                "cache_read_usd": 40_000 * 0.10 / 1e6,
                "cache_write_5m_usd": 3_000 * 1.25 / 1e6,
                "cache_write_1h_usd": 2_000 * 2.00 / 1e6,
            },
        ),
        (
            "claude-opus-4-1",
            {
                "input_usd": 800 * 15.00 / 1e6,
                "output_usd": 500 * 75.00 / 1e6,
                "cache_read_usd": 40_000 * 1.50 / 1e6,
                "cache_write_5m_usd": 3_000 * 18.75 / 1e6,
                "cache_write_1h_usd": 2_000 * 30.00 / 1e6,
            },
        ),
        (
            "claude-opus-4-5",
            {
                "input_usd": 800 * 5.00 / 1e6,
                "output_usd": 500 * 25.00 / 1e6,
                "cache_read_usd": 40_000 * 0.50 / 1e6,
                "cache_write_5m_usd": 3_000 * 6.25 / 1e6,
                "cache_write_1h_usd": 2_000 * 10.00 / 1e6,
            },
        ),
    ],
)
def test_each_kind_of_token_alone_and_mixed(
    table: PriceTable, model: str, parts: dict[str, float]
) -> None:
    tokens = {
        "input_usd": ("input_tokens", 800),
        "output_usd": ("output_tokens", 500),
        "cache_read_usd": ("cache_read_tokens", 40_000),
        "cache_write_5m_usd": ("cache_write_5m_tokens", 3_000),
        "cache_write_1h_usd": ("cache_write_1h_tokens", 2_000),
    }
    for part, (argument, count) in tokens.items():
        alone = cost_of(table, model, **{argument: count})
        assert getattr(alone, part) == approx(parts[part]), part
        assert alone.total_usd == approx(parts[part]), part

    mixed = cost_of(table, model, **dict(tokens.values()))
    for part, expected in parts.items():
        assert getattr(mixed, part) == approx(expected), part
    assert mixed.total_usd == approx(sum(parts.values()))
    input_price = parts["input_usd"] / 800
    all_input = 800 + 40_000 + 3_000 + 2_000
    assert mixed.without_cache_usd == approx(all_input * input_price + parts["output_usd"])


def test_one_hour_writes_cost_twice_the_input_price(table: PriceTable) -> None:
    assert cost_of(table, "claude-sonnet-4-5", cache_write_1h_tokens=10_000).total_usd == approx(
        10_000 * 6.00 / 1e6
    )
    assert cost_of(table, "claude-haiku-4-5", cache_write_1h_tokens=10_000).total_usd == approx(
        10_000 * 2.00 / 1e6
    )
    assert cost_of(table, "claude-opus-4-1", cache_write_1h_tokens=10_000).total_usd == approx(
        10_000 * 30.00 / 1e6
    )


def test_long_context_prices_every_token_at_the_higher_tier(table: PriceTable) -> None:
    # 150_000 + 40_000 + 10_000 + 1 = 200_001 input tokens: above the 200k threshold.
    cost = cost_of(
        table,
        "claude-sonnet-4-5-20250929",
        input_tokens=150_000,
        output_tokens=1_000,
        cache_read_tokens=40_000,
        cache_write_5m_tokens=10_000,
        cache_write_1h_tokens=1,
    )
    assert cost.input_usd == approx(150_000 * 6.00 / 1e6)
    assert cost.output_usd == approx(1_000 * 22.50 / 1e6)
    assert cost.cache_read_usd == approx(40_000 * 0.60 / 1e6)
    assert cost.cache_write_5m_usd == approx(10_000 * 7.50 / 1e6)
    assert cost.cache_write_1h_usd == approx(1 * 12.00 / 1e6)
    assert cost.total_usd == approx(
        150_000 * 6.00 / 1e6
        + 1_000 * 22.50 / 1e6
        + 40_000 * 0.60 / 1e6
        + 10_000 * 7.50 / 1e6
        + 1 * 12.00 / 1e6
    )
    assert cost.without_cache_usd == approx(200_001 * 6.00 / 1e6 + 1_000 * 22.50 / 1e6)


def test_long_context_threshold_counts_cache_tokens_and_is_exclusive(table: PriceTable) -> None:
    at_threshold = cost_of(
        table, "claude-sonnet-4-5", input_tokens=1_000, output_tokens=100, cache_read_tokens=199_000
    )
    assert at_threshold.total_usd == approx(
        1_000 * 3.00 / 1e6 + 100 * 15.00 / 1e6 + 199_000 * 0.30 / 1e6
    )
    above = cost_of(
        table, "claude-sonnet-4-5", input_tokens=1_000, output_tokens=100, cache_read_tokens=199_001
    )
    assert above.total_usd == approx(1_000 * 6.00 / 1e6 + 100 * 22.50 / 1e6 + 199_001 * 0.60 / 1e6)


def test_models_without_a_tier_stay_at_base_prices_above_200k(table: PriceTable) -> None:
    cost = cost_of(table, "claude-haiku-4-5", input_tokens=300_000, output_tokens=1_000)
    assert cost.total_usd == approx(300_000 * 1.00 / 1e6 + 1_000 * 5.00 / 1e6)


@pytest.mark.parametrize(
    ("dated", "alias"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("Claude-Sonnet-4-5", "claude-sonnet-4-5"),
    ],
)
def test_dated_names_and_aliases_cost_the_same(table: PriceTable, dated: str, alias: str) -> None:
    usage = {"input_tokens": 1234, "output_tokens": 567, "cache_read_tokens": 8900}
    assert table.is_priced(dated)
    assert cost_of(table, dated, **usage) == cost_of(table, alias, **usage)


def test_dated_haiku_written_out(table: PriceTable) -> None:
    cost = cost_of(table, "claude-haiku-4-5-20251001", input_tokens=2_000, output_tokens=1_000)
    assert cost.total_usd == approx(2_000 * 1.00 / 1e6 + 1_000 * 5.00 / 1e6)


@pytest.mark.parametrize("model", ["claude-nonexistent-9", "gpt-4o", "", "gemini-2.5-pro"])
def test_unknown_model_is_unpriced_not_free(table: PriceTable, model: str) -> None:
    assert table.cost(model, input_tokens=1000, output_tokens=1000) is None
    assert not table.is_priced(model)


def test_cost_is_frozen(table: PriceTable) -> None:
    cost = cost_of(table, "claude-haiku-4-5", input_tokens=1)
    with pytest.raises(FrozenInstanceError):
        cost.total_usd = 0.0  # type: ignore[misc]  # the point: assignment must fail


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("input_tokens", -1),
        ("output_tokens", 1.5),
        ("cache_read_tokens", None),
        ("cache_write_5m_tokens", True),
        ("cache_write_1h_tokens", "10"),
    ],
)
def test_bad_token_counts_fail_naming_the_argument(
    table: PriceTable, argument: str, value: object
) -> None:
    tokens: dict[str, Any] = {"input_tokens": 1, "output_tokens": 1, argument: value}
    with pytest.raises(TokenCountError, match=argument) as caught:
        table.cost("claude-haiku-4-5", **tokens)
    assert caught.value.field == argument
    assert isinstance(caught.value, ValueError)


# Overrides


def test_override_from_dict_derives_cache_prices_from_the_multipliers() -> None:
    table = PriceTable({"my-model": {"input_mtok": 2.00, "output_mtok": 8.00}})
    cost = cost_of(
        table,
        "my-model",
        input_tokens=1_000,
        output_tokens=2_000,
        cache_read_tokens=3_000,
        cache_write_5m_tokens=4_000,
        cache_write_1h_tokens=5_000,
    )
    assert cost.input_usd == approx(1_000 * 2.00 / 1e6)
    assert cost.output_usd == approx(2_000 * 8.00 / 1e6)
    assert cost.cache_read_usd == approx(3_000 * 0.20 / 1e6)
    assert cost.cache_write_5m_usd == approx(4_000 * 2.50 / 1e6)
    assert cost.cache_write_1h_usd == approx(5_000 * 4.00 / 1e6)


def test_override_wins_over_genai_prices_for_alias_and_dated_name() -> None:
    table = PriceTable(
        {
            "claude-sonnet-4-5": {
                "input_mtok": 1.00,
                "output_mtok": 2.00,
                "cache_read_mtok": 0.05,
                "cache_write_5m_mtok": 1.10,
                "cache_write_1h_mtok": 1.20,
            }
        }
    )
    for model in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"):
        cost = cost_of(
            table,
            model,
            input_tokens=1_000,
            output_tokens=1_000,
            cache_read_tokens=1_000,
            cache_write_5m_tokens=1_000,
            cache_write_1h_tokens=1_000,
        )
        assert cost.total_usd == approx(1_000 * (1.00 + 2.00 + 0.05 + 1.10 + 1.20) / 1e6)
    assert cost_of(table, "claude-haiku-4-5", input_tokens=1_000).total_usd == approx(
        1_000 * 1.00 / 1e6
    )


def test_override_with_a_long_context_tier() -> None:
    table = PriceTable(
        {
            "claude-sonnet-4-20250514": {
                "input_mtok": 3.00,
                "output_mtok": 15.00,
                "long_context_threshold_tokens": 200_000,
                "long_context_input_mtok": 6.00,
                "long_context_output_mtok": 22.50,
            }
        }
    )
    below = cost_of(table, "claude-sonnet-4-20250514", input_tokens=200_000, output_tokens=10)
    assert below.total_usd == approx(200_000 * 3.00 / 1e6 + 10 * 15.00 / 1e6)
    above = cost_of(
        table,
        "claude-sonnet-4-20250514",
        input_tokens=100_000,
        output_tokens=10,
        cache_read_tokens=100_000,
        cache_write_1h_tokens=1,
    )
    assert above.total_usd == approx(
        100_000 * 6.00 / 1e6 + 10 * 22.50 / 1e6 + 100_000 * 0.60 / 1e6 + 1 * 12.00 / 1e6
    )


def test_override_from_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        textwrap.dedent(
            """
            ["my-model"]
            input_mtok = 2
            output_mtok = 8.5
            cache_read_mtok = 0.25
            """
        ),
        encoding="utf-8",
    )
    for source in (path, str(path)):
        cost = cost_of(
            PriceTable(source), "my-model", input_tokens=10, output_tokens=20, cache_read_tokens=30
        )
        assert cost.total_usd == approx(10 * 2.00 / 1e6 + 20 * 8.50 / 1e6 + 30 * 0.25 / 1e6)


def test_override_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"claude-opus-4-1": {"input_mtok": 10, "output_mtok": 50}}), encoding="utf-8"
    )
    cost = cost_of(
        PriceTable(path), "claude-opus-4-1-20250805", input_tokens=10, cache_write_5m_tokens=20
    )
    assert cost.total_usd == approx(10 * 10.00 / 1e6 + 20 * 12.50 / 1e6)


GOOD = {"input_mtok": 3.0, "output_mtok": 15.0}


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({**GOOD, "input_mtok": -1.0}, "input_mtok"),
        ({**GOOD, "output_mtok": float("nan")}, "output_mtok"),
        ({**GOOD, "cache_read_mtok": float("inf")}, "cache_read_mtok"),
        ({**GOOD, "cache_write_5m_mtok": "3.75"}, "cache_write_5m_mtok"),
        ({**GOOD, "cache_write_1h_mtok": True}, "cache_write_1h_mtok"),
        ({**GOOD, "cache_write_1h_mtok": None}, "cache_write_1h_mtok"),
        ({**GOOD, "input_per_mtok": 3.0}, "input_per_mtok"),
        ({"input_mtok": 3.0}, "output_mtok"),
        ({**GOOD, "long_context_input_mtok": 6.0}, "long_context_input_mtok"),
        ({**GOOD, "long_context_threshold_tokens": 200_000.5}, "long_context_threshold_tokens"),
        ({**GOOD, "long_context_threshold_tokens": 0}, "long_context_threshold_tokens"),
        (
            {**GOOD, "long_context_threshold_tokens": 200_000, "long_context_input_mtok": 6.0},
            "long_context_output_mtok",
        ),
    ],
)
def test_bad_override_fails_at_load_naming_model_and_key(entry: dict[str, Any], key: str) -> None:
    with pytest.raises(PriceTableError) as caught:
        PriceTable({"claude-sonnet-4-5": entry})
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, AgentGuardError)
    assert (error.model, error.key) == ("claude-sonnet-4-5", key)
    assert repr(key) in str(error)
    assert "claude-sonnet-4-5" in str(error)


def test_override_entry_that_is_not_a_mapping() -> None:
    with pytest.raises(PriceTableError, match="my-model") as caught:
        PriceTable({"my-model": 3.0})  # type: ignore[dict-item]  # the point: wrong shape
    assert caught.value.model == "my-model"


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("neg.toml", '["m"]\ninput_mtok = -3\noutput_mtok = 15\n', "input_mtok"),
        ("nan.toml", '["m"]\ninput_mtok = nan\noutput_mtok = 15\n', "input_mtok"),
        ("str.toml", '["m"]\ninput_mtok = 3\noutput_mtok = "15"\n', "output_mtok"),
        ("nan.json", '{"m": {"input_mtok": 3, "output_mtok": NaN}}', "output_mtok"),
        ("key.json", '{"m": {"input_mtok": 3, "output_mtok": 15, "batch": 1}}', "batch"),
    ],
)
def test_bad_values_in_files_name_the_key(tmp_path: Path, name: str, text: str, key: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PriceTableError, match=repr(key)) as caught:
        PriceTable(path)
    assert (caught.value.model, caught.value.key) == ("m", key)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("missing.toml", None),
        ("syntax.toml", '["m"\ninput_mtok = 3\n'),
        ("syntax.json", '{"m": {"input_mtok": 3,}}'),
        ("list.json", "[1, 2]"),
        ("prices.yaml", "m: {}"),
        ("latin1.json", b'{"\xe9": {}}'),
    ],
)
def test_bad_files_fail_at_load(tmp_path: Path, name: str, text: str | bytes | None) -> None:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    elif isinstance(text, bytes):
        path.write_bytes(text)
    with pytest.raises(PriceTableError) as caught:
        PriceTable(path)
    assert caught.value.key is None
    assert isinstance(caught.value, ValueError)


def test_directory_is_not_a_price_file(tmp_path: Path) -> None:
    directory = tmp_path / "prices.json"
    directory.mkdir()
    with pytest.raises(PriceTableError, match="cannot read"):
        PriceTable(directory)


def test_unknown_provider_fails_at_once() -> None:
    with pytest.raises(PriceTableError, match="no provider") as caught:
        PriceTable(provider="no-such-provider")
    assert caught.value.key == "provider"


# Exactness, caching, dates and the network


def bundled_genai_total(model: str, tokens: dict[str, int]) -> Any:
    """What genai-prices' own exact arithmetic says, from the same bundled data."""
    writes = tokens["cache_write_5m_tokens"] + tokens["cache_write_1h_tokens"]
    usage = Usage(
        input_tokens=tokens["input_tokens"] + tokens["cache_read_tokens"] + writes,
        output_tokens=tokens["output_tokens"],
        cache_read_tokens=tokens["cache_read_tokens"],
        cache_write_tokens=writes,
        cache_write_1h_tokens=tokens["cache_write_1h_tokens"],
    )
    snapshot = DataSnapshot(providers=genai_prices.data.providers, from_auto_update=False)
    return snapshot.calc(usage, model, "anthropic", None, None).total_price


tokens_strategy = st.fixed_dictionaries(
    {
        "input_tokens": st.integers(0, 400_000),
        "output_tokens": st.integers(0, 64_000),
        "cache_read_tokens": st.integers(0, 400_000),
        "cache_write_5m_tokens": st.integers(0, 200_000),
        "cache_write_1h_tokens": st.integers(0, 200_000),
    }
)
PRICES = PriceTable()
models_strategy = st.sampled_from(
    ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-opus-4-5"]
)


@settings(max_examples=300, deadline=None)
@given(model=models_strategy, tokens=tokens_strategy)
def test_total_is_the_exact_sum_of_the_parts(model: str, tokens: dict[str, int]) -> None:
    cost = cost_of(PRICES, model, **tokens)
    parts = (
        cost.input_usd,
        cost.output_usd,
        cost.cache_read_usd,
        cost.cache_write_5m_usd,
        cost.cache_write_1h_usd,
    )
    assert all(part >= 0 for part in parts)
    assert cost.total_usd == float(bundled_genai_total(model, tokens))
    assert math.fsum(parts) == pytest.approx(cost.total_usd, rel=1e-15, abs=1e-18)

    writes = cost.cache_write_5m_usd + cost.cache_write_1h_usd
    slack = 1e-12
    # Every input token priced as uncached input: reads would cost more, writes less.
    assert cost.without_cache_usd + slack >= cost.input_usd + cost.cache_read_usd + cost.output_usd
    assert cost.without_cache_usd + slack >= cost.total_usd - writes
    assert cost.without_cache_usd - cost.output_usd <= cost.input_usd + 10 * cost.cache_read_usd + (
        writes + slack
    )
    if (
        tokens["cache_read_tokens"]
        == tokens["cache_write_5m_tokens"]
        == 0
        == (tokens["cache_write_1h_tokens"])
    ):
        assert cost.without_cache_usd == cost.total_usd


def test_million_calls_add_up_to_the_cent(table: PriceTable) -> None:
    calls = [
        ("claude-sonnet-4-5", (1_234, 567, 89_012, 3_456, 0)),
        ("claude-haiku-4-5", (17, 3_001, 0, 0, 70_001)),
        ("claude-opus-4-1", (99_999, 1, 12_345, 0, 7)),
    ]
    # Exact cost of each call, from the per-million prices written out above.
    exact = [
        Fraction(1_234 * 300 + 567 * 1500 + 89_012 * 30 + 3_456 * 375, 10**8),
        Fraction(17 * 100 + 3_001 * 500 + 70_001 * 200, 10**8),
        Fraction(99_999 * 1500 + 1 * 7500 + 12_345 * 150 + 7 * 3000, 10**8),
    ]
    costs = []
    for model, (i, o, r, w5, w1) in calls:
        costs.append(
            cost_of(
                table,
                model,
                input_tokens=i,
                output_tokens=o,
                cache_read_tokens=r,
                cache_write_5m_tokens=w5,
                cache_write_1h_tokens=w1,
            )
        )
    for cost, expected in zip(costs, exact, strict=True):
        assert cost.total_usd == float(expected)

    n = 1_000_000
    total = 0.0
    parts_total = 0.0
    for index in range(n):
        cost = costs[index % 3]
        total += cost.total_usd
        parts_total += cost.input_usd + cost.output_usd + cost.cache_read_usd
        parts_total += cost.cache_write_5m_usd + cost.cache_write_1h_usd
    exact_total = sum(exact[index % 3] * ((n - index + 2) // 3) for index in range(3))
    assert abs(Fraction(total) - exact_total) < Fraction(1, 200)
    assert abs(parts_total - total) < 0.005


def test_same_model_is_looked_up_in_genai_prices_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []
    original = DataSnapshot.find_provider_model

    def counting(self: DataSnapshot, model_ref: str, *args: Any) -> Any:
        lookups.append(model_ref)
        return original(self, model_ref, *args)

    monkeypatch.setattr(DataSnapshot, "find_provider_model", counting)
    table = PriceTable()
    for _ in range(1000):
        assert table.cost("claude-sonnet-4-5-20250929", input_tokens=10, output_tokens=10)
        assert table.cost("claude-nonexistent-9", input_tokens=10, output_tokens=10) is None
    assert sorted(lookups) == ["claude-nonexistent-9", "claude-sonnet-4-5-20250929"]


def test_dated_genai_prices_change_when_their_date_comes() -> None:
    # genai-prices: claude-sonnet-4-6 had a 200k tier until 2026-03-13, none from that date.
    now = [datetime(2026, 3, 12, 23, 59, tzinfo=timezone.utc).timestamp()]
    table = PriceTable(clock=lambda: now[0])
    tokens = {"input_tokens": 250_000, "output_tokens": 1_000}
    before = cost_of(table, "claude-sonnet-4-6", **tokens)
    assert before.total_usd == approx(250_000 * 6.00 / 1e6 + 1_000 * 22.50 / 1e6)
    now[0] = datetime(2026, 3, 13, 0, 1, tzinfo=timezone.utc).timestamp()
    after = cost_of(table, "claude-sonnet-4-6", **tokens)
    assert after.total_usd == approx(250_000 * 3.00 / 1e6 + 1_000 * 15.00 / 1e6)


@pytest.fixture
def fetched_snapshot() -> Iterator[None]:
    """A process-wide genai-prices snapshot, as ``UpdatePrices`` would install, with no models."""
    set_custom_snapshot(DataSnapshot(providers=[], from_auto_update=True))
    try:
        yield
    finally:
        set_custom_snapshot(None)


@pytest.mark.usefixtures("fetched_snapshot")
def test_fetched_snapshots_are_ignored_and_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fetch(self: UpdatePrices) -> None:
        raise AssertionError("genai-prices tried to fetch prices")

    monkeypatch.setattr(UpdatePrices, "fetch", no_fetch)
    cost = cost_of(PriceTable(), "claude-opus-4-5", input_tokens=1_000)
    assert cost.total_usd == approx(1_000 * 5.00 / 1e6)


def test_no_network_at_import_or_call() -> None:
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError(f"network access: {args!r}")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from agentguard_trace.pricing import PriceTable
        from genai_prices import update_prices

        table = PriceTable()
        for model in ("claude-sonnet-4-5", "claude-haiku-4-5-20251001", "nope"):
            table.cost(model, input_tokens=300_000, output_tokens=10, cache_read_tokens=5)
        assert update_prices._shared_updater.thread is None
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
