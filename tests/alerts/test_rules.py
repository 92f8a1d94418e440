"""Rules and expressions refuse bad options at once, naming the rule and the key."""

from __future__ import annotations

import pytest

from agentguard_alerts import (
    Gauge,
    Increase,
    Max,
    Quantile,
    Ratio,
    Rule,
    RuleConfigError,
    builtin,
)
from agentguard_alerts.rules import format_value

ERRORS = Increase("agentguard_llm_calls_total", {"status": "error"})


def rule(**options: object) -> Rule:
    settings: dict[str, object] = {"name": "Errors", "expr": ERRORS, "threshold": 1, **options}
    return Rule(**settings)  # type: ignore[arg-type]  # options are Rule's, some wrong on purpose


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"name": "has space"}, "name", "a rule name is"),
        ({"threshold": "high"}, "threshold", "finite number"),
        ({"threshold": float("nan")}, "threshold", "finite number"),
        ({"op": "=>"}, "op", "must be one of"),
        ({"window_s": 90}, "window", "whole number of minutes"),
        ({"window_s": 0}, "window", "whole number of minutes"),
        ({"for_s": -1}, "for", ">= 0"),
        ({"repeat_interval_s": 0}, "repeat_interval", "> 0"),
        ({"by": "agent"}, "by", "list of label names"),
        ({"by": ("tool",)}, "by", "has no label 'tool'"),
        ({"severity": "page"}, "severity", "info, warning, critical"),
        ({"labels": {"alertname": "x"}}, "labels", "set by the rule itself"),
        ({"labels": {"team": 7}}, "labels", "must be a string"),
        ({"labels": {"bad-label": "x"}}, "labels", "not a label name"),
        ({"summary": "errors: $errors"}, "summary", "unknown placeholder(s) $errors"),
        ({"description": "costs 5$"}, "description", "write $$ for a dollar sign"),
    ],
)
def test_a_bad_option_names_the_rule_and_the_key(
    options: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(RuleConfigError) as caught:
        rule(**options)
    assert caught.value.key == key
    assert caught.value.rule == options.get("name", "Errors")
    assert message in str(caught.value)
    assert f"key {key!r}" in str(caught.value)


@pytest.mark.parametrize(
    ("make", "key", "message"),
    [
        (lambda: Increase("agentguard_nope_total"), "metric", "unknown metric"),
        (lambda: Increase("agentguard_llm_call_duration_seconds"), "metric", "is a histogram"),
        (lambda: Quantile("agentguard_llm_calls_total", 0.95), "metric", "is a counter"),
        (lambda: Quantile("agentguard_llm_call_duration_seconds", 95), "q", "(0, 1]"),
        (lambda: Max("agentguard_breaker_state"), "metric", "is a gauge"),
        (lambda: Gauge("agentguard_breaker_state", {"model": "x"}), "where", "no label 'model'"),
        (
            lambda: Quantile(
                "agentguard_llm_call_duration_seconds",
                0.5,
                {"model": ["a", "b"]},  # type: ignore[dict-item]  # the point: counters only
            ),
            "where",
            "must be a string",
        ),
        (lambda: Ratio(ERRORS, ERRORS, min_count=0), "min_count", "> 0"),
    ],
)
def test_a_bad_expression_names_the_key(make: object, key: str, message: str) -> None:
    assert callable(make)
    with pytest.raises(RuleConfigError) as caught:
        make()
    assert caught.value.key == key
    assert message in str(caught.value)


def test_summary_templates_fill_in_the_value_threshold_and_labels() -> None:
    made = builtin.p95_latency(summary="$model p95 $value s > $threshold s over $window ($$)")
    text = made.annotations(6.2345678, {"model": "claude-opus-4-1"})["summary"]
    assert text == "claude-opus-4-1 p95 6.235 s > 5 s over 5m ($)"


def test_templates_cannot_reach_attributes() -> None:
    with pytest.raises(RuleConfigError, match="malformed"):
        rule(summary="${value.__class__}")


def test_a_default_summary_says_what_crossed_what() -> None:
    text = rule(threshold=3).annotations(4.0, {})["summary"]
    assert text == "Errors: increase of agentguard_llm_calls_total over 5m is 4 (> 3)"


def test_values_show_four_significant_digits_and_no_data_as_none() -> None:
    assert [format_value(v) for v in (0.051234, 150000.0, None)] == ["0.05123", "1.5e+05", "none"]


def test_holds_never_for_no_data() -> None:
    made = rule(op="<", threshold=0.8)
    assert made.holds(0.5)
    assert not made.holds(None)
    assert not made.holds(0.9)
