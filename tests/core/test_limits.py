"""The one table of field limits: what an event may carry, and what a sum may reach."""

from __future__ import annotations

import math

import pytest

from agentguard.events import (
    BudgetExceeded,
    LLMCallFinished,
    PromptCacheUsage,
    RunFinished,
    ToolCallFinished,
)
from agentguard.limits import LIMITS, MAX_TOTAL, admits_total, invalid_field, limit_for


def test_every_amount_a_metric_sums_has_a_finite_range() -> None:
    from agentguard.metricmap import RULES

    read = {
        rule.value.name
        for rules in RULES.values()
        for rule in rules
        if rule.op != "set" and hasattr(rule.value, "name")
    }
    for name in read:
        limit = limit_for(name)
        assert limit is not None, name
        assert 0.0 == limit.low < limit.high < MAX_TOTAL
    assert {"input_cost_usd", "duration_s", "input_tokens", "retries", "hit_ratio"} <= set(LIMITS)
    assert "at_unix_s" not in LIMITS


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (LLMCallFinished(model="m", duration_s=0.5, input_cost_usd=1e308), "input_cost_usd"),
        (LLMCallFinished(model="m", duration_s=math.nan), "duration_s"),
        (LLMCallFinished(model="m", duration_s=1.0, output_tokens=10**12), "output_tokens"),
        (LLMCallFinished(model="m", duration_s=1.0, retries=-1), "retries"),
        (ToolCallFinished(tool="t", duration_s=math.inf), "duration_s"),
        (RunFinished(duration_s=1.0, ok=True, cost_usd=-0.01), "cost_usd"),
        (
            PromptCacheUsage(
                model="m",
                hit_ratio=1.5,
                read_tokens=1,
                write_tokens=1,
                uncached_tokens=1,
                saved_usd=None,
            ),
            "hit_ratio",
        ),
        (BudgetExceeded(scope="day", limit_usd=10.0, spent_usd=math.inf), "spent_usd"),
    ],
)
def test_the_field_out_of_range_is_named(event: object, field: str) -> None:
    assert invalid_field(event) == field  # type: ignore[arg-type]  # events of the catalog


def test_sane_values_and_unknowns_pass() -> None:
    assert invalid_field(LLMCallFinished(model="m", duration_s=30.0, cost_usd=None)) is None
    assert invalid_field(LLMCallFinished(model="m", duration_s=0.0, input_tokens=200_000)) is None
    assert invalid_field(RunFinished(duration_s=86_400.0, ok=True, cost_usd=1_000.0)) is None


def test_a_sum_past_two_to_the_53_is_not_a_count() -> None:
    assert admits_total(2.0**53) and admits_total(-(2.0**53))
    assert not admits_total(2.0**53 + 2)
    assert not admits_total(math.inf)
    assert not admits_total(math.nan)
