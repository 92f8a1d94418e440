"""PriceTable against genai-prices itself, and every usage dimension the API reports.

The matrix test is the proof that ``PriceTable`` computes genai-prices' calculation, not a
copy of it: every Claude model of its data, on each platform it lists, at dates on both sides
of its dated prices, priced for usage shapes that cross every rule (cache reads and writes of
both lifetimes, long context, web searches, fast mode, batch), must agree with
``genai_prices.calc_price`` to the float.
"""

from __future__ import annotations

from datetime import datetime, timezone
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from genai_prices import Usage
from genai_prices.data import providers
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import (
    ClauseEquals,
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    Provider,
    Tier,
    TieredPrices,
    TimeOfDateConstraint,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard_trace import _genai
from agentguard_trace.pricing import (
    CallCost,
    CallUsage,
    PriceTable,
    PriceTableError,
    TokenCountError,
    normalize_model,
)

PLATFORMS = {"anthropic": "anthropic", "bedrock": "aws", "vertex": "google"}
"""Our platform names and the genai-prices provider whose data prices each."""

DATES = [
    datetime(2026, 3, 1, 12, tzinfo=timezone.utc),  # before 2026-03-13: Opus/Sonnet 4.6 tiers
    datetime(2026, 10, 1, 12, tzinfo=timezone.utc),  # before 2026-10-14: no batch variants yet
    datetime(2026, 12, 1, 12, tzinfo=timezone.utc),
]

SHAPES: list[tuple[str, CallUsage]] = [
    ("plain", CallUsage(input_tokens=1_200, output_tokens=350)),
    ("cache read", CallUsage(input_tokens=800, output_tokens=500, cache_read_tokens=40_000)),
    ("5m write", CallUsage(input_tokens=800, output_tokens=500, cache_write_5m_tokens=3_000)),
    ("1h write", CallUsage(input_tokens=800, output_tokens=500, cache_write_1h_tokens=2_000)),
    (
        "all kinds",
        CallUsage(
            input_tokens=817,
            output_tokens=5_009,
            cache_read_tokens=41_003,
            cache_write_5m_tokens=3_001,
            cache_write_1h_tokens=2_003,
        ),
    ),
    ("200k exactly", CallUsage(input_tokens=1_000, output_tokens=10, cache_read_tokens=199_000)),
    (
        "above 200k",
        CallUsage(
            input_tokens=150_000,
            output_tokens=1_000,
            cache_read_tokens=40_000,
            cache_write_5m_tokens=10_000,
            cache_write_1h_tokens=1,
        ),
    ),
    ("web searches", CallUsage(input_tokens=1_000, output_tokens=100, web_search_requests=7)),
    ("web fetches", CallUsage(input_tokens=1_000, output_tokens=100, web_fetch_requests=3)),
    (
        "fast",
        CallUsage(input_tokens=900, output_tokens=700, cache_read_tokens=9_000, speed="fast"),
    ),
    (
        "batch",
        CallUsage(
            input_tokens=900,
            output_tokens=700,
            cache_write_1h_tokens=900,
            service_tier="batch",
        ),
    ),
    (
        "batch above 200k",
        CallUsage(input_tokens=250_000, output_tokens=700, service_tier="batch"),
    ),
    (
        "fast batch with searches",
        CallUsage(
            input_tokens=5_000,
            output_tokens=700,
            web_search_requests=2,
            speed="fast",
            service_tier="batch",
        ),
    ),
    ("standard named", CallUsage(input_tokens=5, speed="standard", service_tier="standard")),
]


def price_context(usage: CallUsage) -> dict[str, str]:
    """genai-prices' price context for what the API reported, written out independently."""
    context = {}
    if usage.service_tier == "batch":
        context["processing"] = "batch"
    if usage.speed == "fast":
        context["speed"] = "fast"
    return context


def genai_usage(usage: CallUsage) -> Usage:
    """The same usage in genai-prices' terms: its input_tokens counts every input token."""
    writes = usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
    return Usage(
        input_tokens=usage.input_tokens + usage.cache_read_tokens + writes,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=writes,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        web_searches=usage.web_search_requests,
    )


def claude_models() -> list[tuple[str, str, ModelInfo]]:
    """(platform, a model name that resolves to it, model) for every Claude model of the data."""
    cases = []
    for platform, provider_id in PLATFORMS.items():
        provider = next(p for p in providers if p.id == provider_id)
        # Bedrock's regional entries are named by their in-region inference profile.
        cases += [
            (platform, model.id.replace("regional.", "us.", 1), model)
            for model in provider.models
            if "claude" in model.id
        ]
    return cases


MODELS = claude_models()


def test_the_matrix_covers_every_platform_and_tier() -> None:
    assert {platform for platform, _, _ in MODELS} == set(PLATFORMS)
    assert len(MODELS) >= 80
    assert any(model.id == "claude-sonnet-4-5" for _, _, model in MODELS)


@pytest.mark.parametrize(
    ("platform", "name", "model"), MODELS, ids=[f"{p}:{n}" for p, n, _ in MODELS]
)
def test_cost_is_genai_prices_calc_price(platform: str, name: str, model: ModelInfo) -> None:
    provider_id = PLATFORMS[platform]
    snapshot_model = genai_prices.calc_price(Usage(input_tokens=1), name, provider_id=provider_id)
    assert snapshot_model.model is model, "the name must resolve to the model under test"
    table = PriceTable()
    for when in DATES:
        for shape, usage in SHAPES:
            cost = table.price(name, usage, provider=platform, at_unix_s=when.timestamp())
            assert cost is not None, (shape, when)
            context = price_context(usage)
            theirs = genai_prices.calc_price(
                genai_usage(usage),
                name,
                provider_id=provider_id,
                genai_request_timestamp=when,
                price_context=context or None,
            )
            where = f"{shape} at {when:%Y-%m-%d}"
            assert cost.total_usd == float(theirs.total_price), where
            assert abs(Decimal(cost.total_usd) - theirs.total_price) <= Decimal("1e-9"), where
            input_side = (
                cost.input_usd + cost.cache_read_usd + cost.cache_write_5m_usd
            ) + cost.cache_write_1h_usd
            assert input_side == pytest.approx(float(theirs.input_price), rel=1e-12), where
            assert cost.output_usd == float(theirs.output_price), where
            assert_unpriced_is_what_genai_prices_leaves_out(cost, usage, theirs, when, where)


def assert_unpriced_is_what_genai_prices_leaves_out(
    cost: CallCost, usage: CallUsage, theirs: Any, when: datetime, where: str
) -> None:
    """A price context is named unpriced exactly when genai-prices priced it as standard."""
    price = theirs.model_price
    assert cost.complete is (not cost.unpriced), where
    if usage.web_search_requests and price.web_searches_kcount is None:
        assert "web_search_requests" in cost.unpriced, where
        assert cost.web_search_usd == 0.0, where
    if usage.cache_write_1h_tokens and price.cache_write_1h_mtok is None:
        assert "cache_write_1h_tokens" in cost.unpriced, where
    if usage.web_fetch_requests:
        assert "web_fetch_requests" not in cost.unpriced, where
    context = price_context(usage)
    if len(context) != 1:
        return
    standard = theirs.model.calc_price(
        genai_usage(usage), theirs.provider, genai_request_timestamp=when, price_context=None
    )
    label = f"service_tier={usage.service_tier}" if usage.service_tier else f"speed={usage.speed}"
    varied = theirs.model_price != standard.model_price
    assert (label in cost.unpriced) is not varied, where


usages = st.builds(
    CallUsage,
    input_tokens=st.integers(0, 400_000),
    output_tokens=st.integers(0, 128_000),
    cache_read_tokens=st.integers(0, 400_000),
    cache_write_5m_tokens=st.integers(0, 200_000),
    cache_write_1h_tokens=st.integers(0, 200_000),
    web_search_requests=st.integers(0, 50),
    web_fetch_requests=st.integers(0, 50),
    speed=st.sampled_from([None, "standard", "fast"]),
    service_tier=st.sampled_from([None, "standard", "batch"]),
)
PRICES = PriceTable()


@settings(max_examples=400)
@given(
    case=st.sampled_from(MODELS),
    usage=usages,
    when=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2027, 6, 1),
        timezones=st.just(timezone.utc),
    ),
)
def test_any_usage_at_any_time_costs_what_calc_price_says(
    case: tuple[str, str, ModelInfo], usage: CallUsage, when: datetime
) -> None:
    platform, name, _ = case
    cost = PRICES.price(name, usage, provider=platform, at_unix_s=when.timestamp())
    theirs = genai_prices.calc_price(
        genai_usage(usage),
        name,
        provider_id=PLATFORMS[platform],
        genai_request_timestamp=when,
        price_context=price_context(usage) or None,
    )
    assert cost is not None
    assert cost.total_usd == float(theirs.total_price)


# Every reported dimension


def cost_of(
    model: str, usage: CallUsage, *, provider: str = "anthropic", at: datetime | None = None
) -> CallCost:
    when = (at or datetime(2026, 12, 1, tzinfo=timezone.utc)).timestamp()
    cost = PriceTable().price(model, usage, provider=provider, at_unix_s=when)
    assert cost is not None, model
    return cost


def test_web_searches_cost_ten_dollars_a_thousand_in_total_and_without_cache() -> None:
    cost = cost_of(
        "claude-sonnet-4-5",
        CallUsage(input_tokens=1_000, cache_read_tokens=1_000, web_search_requests=3),
    )
    assert cost.web_search_usd == pytest.approx(0.03, rel=1e-15)
    assert cost.total_usd == pytest.approx(0.03 + 1_000 * 3.30 / 1e6, rel=1e-12)
    assert cost.without_cache_usd == pytest.approx(0.03 + 2_000 * 3.00 / 1e6, rel=1e-12)
    assert cost.complete
    assert cost.unpriced == ()


def test_web_fetches_are_billed_as_tokens_only() -> None:
    usage = CallUsage(input_tokens=1_000, web_fetch_requests=5)
    cost = cost_of("claude-sonnet-4-5", usage)
    assert cost.total_usd == pytest.approx(1_000 * 3.00 / 1e6, rel=1e-12)
    assert cost.complete


def test_batch_results_are_priced_at_half_the_standard_price() -> None:
    standard = cost_of("claude-opus-4-5", CallUsage(input_tokens=10_000, output_tokens=1_000))
    batch = cost_of(
        "claude-opus-4-5",
        CallUsage(input_tokens=10_000, output_tokens=1_000, service_tier="batch"),
    )
    assert batch.total_usd == pytest.approx(standard.total_usd / 2, rel=1e-12)
    assert batch.complete


def test_fast_mode_is_priced_by_the_fast_variant() -> None:
    fast = cost_of("claude-opus-4-8", CallUsage(input_tokens=1_000, speed="fast"))
    assert fast.total_usd == pytest.approx(1_000 * 10.00 / 1e6, rel=1e-12)
    assert fast.complete


@pytest.mark.parametrize(
    ("model", "usage", "provider", "unpriced"),
    [
        ("claude-sonnet-4-5", CallUsage(input_tokens=1, service_tier="priority"), "anthropic",
         ("service_tier=priority",)),
        ("claude-sonnet-4-5", CallUsage(input_tokens=1, speed="fast"), "anthropic",
         ("speed=fast",)),
        ("claude-sonnet-4-5@20250929", CallUsage(input_tokens=1, service_tier="batch"), "vertex",
         ("service_tier=batch",)),
        ("us.anthropic.claude-3-haiku-20240307-v1:0",
         CallUsage(input_tokens=1, cache_read_tokens=5, web_search_requests=1), "bedrock",
         ("cache_read_tokens", "web_search_requests")),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0",
         CallUsage(input_tokens=1, cache_write_1h_tokens=5), "bedrock",
         ("cache_write_1h_tokens",)),
    ],
)  # fmt: skip
def test_a_dimension_without_a_price_marks_the_cost_incomplete(
    model: str, usage: CallUsage, provider: str, unpriced: tuple[str, ...]
) -> None:
    cost = cost_of(model, usage, provider=provider)
    assert cost.unpriced == unpriced
    assert not cost.complete


def test_priority_is_priced_at_standard_rates_but_marked() -> None:
    usage = CallUsage(input_tokens=1_000, output_tokens=100)
    standard = cost_of("claude-sonnet-4-5", usage)
    priority = cost_of(
        "claude-sonnet-4-5",
        CallUsage(input_tokens=1_000, output_tokens=100, service_tier="priority"),
    )
    assert priority.total_usd == standard.total_usd
    assert (standard.complete, priority.complete) == (True, False)


def test_batch_before_the_batch_variant_existed_is_marked() -> None:
    usage = CallUsage(input_tokens=1_000, service_tier="batch")
    before = cost_of("claude-opus-4-5", usage, at=datetime(2026, 10, 13, tzinfo=timezone.utc))
    after = cost_of("claude-opus-4-5", usage, at=datetime(2026, 10, 14, tzinfo=timezone.utc))
    assert before.unpriced == ("service_tier=batch",)
    assert before.total_usd == pytest.approx(1_000 * 5.00 / 1e6, rel=1e-12)
    assert after.complete
    assert after.total_usd == pytest.approx(1_000 * 2.50 / 1e6, rel=1e-12)


def test_one_table_prices_each_request_time_by_its_own_dated_prices() -> None:
    table = PriceTable()
    usage = CallUsage(input_tokens=1_000, service_tier="batch")
    times = [datetime(2026, 10, d, tzinfo=timezone.utc).timestamp() for d in (13, 14, 13, 20)]
    totals = [table.price("claude-opus-4-5", usage, at_unix_s=t) for t in times]
    assert [c.total_usd if c else None for c in totals] == [0.005, 0.0025, 0.005, 0.0025]


# Platforms


def test_bedrock_global_and_regional_profiles_have_their_own_prices() -> None:
    usage = CallUsage(input_tokens=1_000_000)
    cases = {
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0": 3.00,
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0": 3.30,
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0": 3.30,
        "anthropic.claude-sonnet-4-5-20250929-v1:0": 3.30,
    }
    for model, dollars in cases.items():
        cost = cost_of(model, usage, provider="bedrock")
        assert cost.total_usd == pytest.approx(dollars, rel=1e-12), model
        assert cost.complete, model


def test_a_bedrock_model_its_data_lacks_falls_back_to_anthropic_prices_marked() -> None:
    cost = cost_of(
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        CallUsage(input_tokens=1),
        provider="bedrock",
    )
    assert cost.complete  # listed for aws
    fallback = cost_of(
        "us.anthropic.claude-opus-4-5-20251101-v1:0",
        CallUsage(input_tokens=1_000),
        provider="bedrock",
    )
    assert fallback.total_usd == pytest.approx(1_000 * 5.50 / 1e6, rel=1e-12)
    assert fallback.complete
    missing = cost_of("anthropic.claude-v2:1", CallUsage(input_tokens=1_000), provider="bedrock")
    assert missing.total_usd == pytest.approx(1_000 * 8.00 / 1e6, rel=1e-12)
    assert missing.unpriced == ("provider=bedrock",)


@pytest.mark.parametrize("platform", ["foundry", "aws", "google_cloud"])
def test_platforms_without_genai_prices_data_use_first_party_prices(platform: str) -> None:
    usage = CallUsage(input_tokens=1_000, output_tokens=100, service_tier="batch")
    assert cost_of("claude-opus-4-5", usage, provider=platform) == cost_of("claude-opus-4-5", usage)


def test_an_unknown_platform_fails_naming_the_known_ones() -> None:
    with pytest.raises(PriceTableError, match="bedrock") as caught:
        PriceTable().price("claude-sonnet-4-5", CallUsage(), provider="azure")
    assert caught.value.key == "provider"
    with pytest.raises(PriceTableError, match="vertex"):
        normalize_model("claude-sonnet-4-5", "gcp")


@pytest.mark.parametrize(
    ("model", "provider", "name"),
    [
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock",
         "claude-sonnet-4-5-20250929"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "bedrock", "claude-opus-4-1-20250805"),
        ("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "bedrock", "claude-3-haiku-20240307"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "bedrock", "claude-3-5-sonnet-20241022"),
        ("anthropic.claude-v2:1", "bedrock", "claude-v2:1"),
        ("global.anthropic.claude-opus-5", "bedrock", "claude-opus-5"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "bedrock",
            "claude-sonnet-4-20250514",
        ),
        ("claude-sonnet-4-5@20250929", "vertex", "claude-sonnet-4-5-20250929"),
        ("claude-3-5-sonnet-v2@20241022", "vertex", "claude-3-5-sonnet-20241022"),
        ("publishers/anthropic/models/claude-haiku-4-5@20251001", "vertex",
         "claude-haiku-4-5-20251001"),
        ("claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929"),
        ("claude-sonnet-4-5", "foundry", "claude-sonnet-4-5"),
    ],
)  # fmt: skip
def test_normalize_model_gives_anthropic_names(model: str, provider: str, name: str) -> None:
    assert normalize_model(model, provider) == name


def test_an_override_prices_the_model_on_every_platform_and_web_searches() -> None:
    table = PriceTable(
        {"claude-sonnet-4-5": {"input_mtok": 1, "output_mtok": 2, "web_search_per_k": 20}}
    )
    usage = CallUsage(input_tokens=1_000, web_search_requests=2)
    names = {
        "anthropic": "claude-sonnet-4-5-20250929",
        "bedrock": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "vertex": "claude-sonnet-4-5@20250929",
    }
    for platform, name in names.items():
        cost = table.price(name, usage, provider=platform)
        assert cost is not None
        assert cost.total_usd == pytest.approx(1_000 * 1.00 / 1e6 + 0.04, rel=1e-12), platform
        assert cost.complete


def test_an_override_has_no_batch_price_and_says_so() -> None:
    table = PriceTable({"my-model": {"input_mtok": 1, "output_mtok": 2}})
    cost = table.price("my-model", CallUsage(input_tokens=1_000, service_tier="batch"))
    assert cost is not None
    assert cost.unpriced == ("service_tier=batch",)
    searched = table.price("my-model", CallUsage(web_search_requests=1))
    assert searched is not None and searched.web_search_usd == pytest.approx(0.01, rel=1e-15)


def test_an_unknown_model_is_unpriced_on_every_platform() -> None:
    table = PriceTable()
    for platform in ("anthropic", "bedrock", "vertex", "foundry"):
        assert (
            table.price("claude-nonexistent-9", CallUsage(input_tokens=1), provider=platform)
            is None
        )


# The hot path and its inputs


def test_price_parts_is_price_as_a_tuple() -> None:
    table = PriceTable()
    usage = CallUsage(
        input_tokens=3, output_tokens=5, cache_read_tokens=7, web_search_requests=1, speed="fast"
    )
    parts = table.price_parts("claude-opus-4-8", usage.counts(), speed="fast", provider="anthropic")
    cost = table.price("claude-opus-4-8", usage)
    assert cost is not None and parts is not None
    assert parts == (
        cost.input_usd,
        cost.output_usd,
        cost.cache_read_usd,
        cost.cache_write_5m_usd,
        cost.cache_write_1h_usd,
        cost.web_search_usd,
        cost.total_usd,
        cost.without_cache_usd,
        cost.complete,
        cost.unpriced,
    )
    assert table.price_parts("nope", usage.counts()) is None


@pytest.mark.parametrize(
    "field",
    [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "web_search_requests",
        "web_fetch_requests",
    ],
)
@pytest.mark.parametrize("value", [-1, 1.0, True, None])
def test_call_usage_rejects_bad_counts_naming_the_field(field: str, value: object) -> None:
    counts: dict[str, Any] = {field: value}
    with pytest.raises(TokenCountError, match=field) as caught:
        CallUsage(**counts)
    assert caught.value.field == field


def test_call_usage_rejects_a_speed_that_is_not_a_string() -> None:
    with pytest.raises(TypeError, match="speed"):
        CallUsage(speed=1)  # type: ignore[arg-type]  # the point: a wrong type


# Caching by request time, and data genai-prices cannot apply


def test_alternating_request_times_resolve_each_dated_window_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    original = ModelInfo.calc_price

    def counting(self: ModelInfo, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.id)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ModelInfo, "calc_price", counting)
    table = PriceTable()
    usage = CallUsage(input_tokens=1_000, service_tier="batch")
    before, after = (datetime(2026, 10, d, tzinfo=timezone.utc).timestamp() for d in (13, 14))
    table.price("claude-opus-4-5", usage, at_unix_s=before)
    table.price("claude-opus-4-5", usage, at_unix_s=after)
    resolved = len(calls)
    assert resolved > 0
    for _ in range(50):
        first = table.price("claude-opus-4-5", usage, at_unix_s=before)
        second = table.price("claude-opus-4-5", usage, at_unix_s=after)
        assert first is not None and second is not None
        assert (first.total_usd, second.total_usd) == (0.005, 0.0025)
    assert len(calls) == resolved


def _snapshot_with(*models: ModelInfo) -> DataSnapshot:
    provider = Provider(id="anthropic", name="Anthropic", api_pattern="x", models=list(models))
    return DataSnapshot(providers=[provider], from_auto_update=False)


def test_prices_genai_prices_cannot_apply_leave_the_model_unpriced_without_raising(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Tiers one token apart: no tier holds two input counts, so no rate can be derived.
    close = ModelPrice(
        input_mtok=TieredPrices(
            base=Decimal(1),
            tiers=[Tier(start=5, price=Decimal(2)), Tier(start=6, price=Decimal(3))],
        ),
        output_mtok=Decimal(1),
    )
    model = ModelInfo(id="claude-close", match=ClauseEquals(equals="claude-close"), prices=close)
    monkeypatch.setattr(_genai, "bundled_snapshot", lambda: _snapshot_with(model))
    table = PriceTable()
    for _ in range(3):
        assert table.price("claude-close", CallUsage(input_tokens=10)) is None
    assert not table.is_priced("claude-close")
    warnings = [r for r in caplog.records if "claude-close" in r.getMessage()]
    assert len(warnings) == 1


def test_a_time_of_day_price_is_resolved_for_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    off_peak = ConditionalPrice(
        constraint=TimeOfDateConstraint(start_time=dtime(16, 30), end_time=dtime(0, 30)),
        prices=ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(1)),
    )
    model = ModelInfo(
        id="claude-off-peak",
        match=ClauseEquals(equals="claude-off-peak"),
        prices=[
            ConditionalPrice(prices=ModelPrice(input_mtok=Decimal(2), output_mtok=Decimal(1))),
            off_peak,
        ],
    )
    monkeypatch.setattr(_genai, "bundled_snapshot", lambda: _snapshot_with(model))
    table = PriceTable()
    usage = CallUsage(input_tokens=1_000_000)
    day = datetime(2026, 12, 1, 12, tzinfo=timezone.utc).timestamp()
    evening = datetime(2026, 12, 1, 17, tzinfo=timezone.utc).timestamp()
    totals = [table.price("claude-off-peak", usage, at_unix_s=t) for t in (day, evening, day)]
    assert [c.total_usd if c else None for c in totals] == [2.0, 1.0, 2.0]
