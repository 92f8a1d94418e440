"""Rules files: the example loads; every mistake names the file, the rule and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard import Bus
from agentguard.events import LoopDetected
from agentguard_alerts import (
    AlertsConfig,
    Quantile,
    RuleConfigError,
    default_rules,
    load,
    loads,
    parse_duration,
)
from alerts.conftest import Feed, Recorder

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alert_rules.toml"
SECRET = "whsec_dGhlIGNvbmZpZyB0ZXN0IHNlY3JldCwgMzIgYnl0ZXM="


def test_the_example_rules_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTGUARD_WEBHOOK_SECRETS", f"{SECRET} {SECRET}")
    config = load(EXAMPLE)
    names = [rule.name for rule in config.rules]
    assert len(names) == len(set(names))
    defaults = {rule.name for rule in default_rules()}
    assert defaults <= set(names)
    assert {"HighCostPerHour", "LowCacheHitRatio", "SlowSearch", "ToolErrors"} <= set(names)
    by_name = {rule.name: rule for rule in config.rules}
    errors = by_name["HighErrorRate"]
    assert (errors.threshold, errors.for_s, errors.severity) == (0.02, 300.0, "critical")
    slow = by_name["SlowSearch"]
    assert slow.expr == Quantile("agentguard_tool_call_duration_seconds", 0.95, {"tool": "search"})
    assert (slow.window_s, slow.by, slow.labels) == (600, ("agent",), {"team": "search"})
    (webhook,) = config.webhooks
    assert webhook.url == "https://alerts.example.com/webhooks/alerts"
    assert webhook.secrets == (SECRET, SECRET)
    assert SECRET not in repr(webhook), "secrets stay out of reprs (and so of logs)"
    assert (config.interval_s, config.repeat_interval_s) == (15.0, 4 * 3600.0)


def test_a_loaded_file_runs_over_a_store(feed: Feed, recorder: Recorder) -> None:
    config = loads(
        """
        [evaluation]
        group_by = ["agent"]
        external_url = "http://dashboard.example"

        [[builtin]]
        rule = "loop_detected"
        name = "AgentLoops"
        window = "10m"
        """
    )
    assert isinstance(config, AlertsConfig)
    evaluator = config.evaluator(feed.store, recorder, bus=Bus(), clock=feed.clock.time)
    feed.publish(LoopDetected(agent="a", tool="t", pattern="cycle", repeats=3, action="stop"))
    evaluator.evaluate()
    (notification,) = recorder.take()
    assert notification.group_labels == {"agent": "a"}
    assert notification.external_url == "http://dashboard.example"
    assert notification.alerts[0].labels["alertname"] == "AgentLoops"
    evaluator.close()


@pytest.mark.parametrize(
    ("text", "rule", "key", "message"),
    [
        ("[[rule]]\nname = 'X'\nkind = 'avg'", "X", "kind", "must be one of increase, ratio"),
        (
            "[[rule]]\nname = 'X'\nkind = 'increase'\nmetric = 'agentguard_llm_calls_total'",
            "X",
            "threshold",
            "is required",
        ),
        (
            "[[rule]]\nname='X'\nkind='increase'\nmetric='agentguard_nope'\nthreshold=1",
            "X",
            "metric",
            "unknown metric 'agentguard_nope'",
        ),
        (
            "[[rule]]\nname='X'\nkind='increase'\nmetric='agentguard_llm_calls_total'\n"
            "threshold=1\nwindow='90s'",
            "X",
            "window",
            "whole number of minutes",
        ),
        (
            "[[rule]]\nname='X'\nkind='increase'\nmetric='agentguard_llm_calls_total'\n"
            "threshold=1\nfor='soon'",
            "X",
            "for",
            "a duration is",
        ),
        (
            "[[rule]]\nname='X'\nkind='increase'\nmetric='agentguard_llm_calls_total'\n"
            "threshold=1\nq=0.9",
            "X",
            "q",
            "unknown key",
        ),
        (
            "[[rule]]\nname='X'\nkind='quantile'\nmetric='agentguard_llm_call_duration_seconds'\n"
            "threshold=1",
            "X",
            "q",
            "is required for a quantile",
        ),
        (
            "[[rule]]\nname='X'\nkind='ratio'\nmetric='agentguard_llm_calls_total'\n"
            "threshold=1\ndenominator_where={nope='x'}",
            "X",
            "denominator_where",
            "no label 'nope'",
        ),
        (
            "[[rule]]\nname='X'\nkind='increase'\nmetric='agentguard_llm_calls_total'\n"
            "threshold=1\nwhere={status=5}",
            "X",
            "where",
            "status must be a string",
        ),
        ("[[rule]]\nkind = 'increase'\nmetric = 'x'", "rule[0]", "name", "is required"),
        ("[[builtin]]\nrule = 'nope'", "builtin[0]", "rule", "must name a built-in rule"),
        ("[[builtin]]\nrule = 'cost_per_hour'", "cost_per_hour", "threshold", "no default"),
        (
            "[[builtin]]\nrule = 'loop_detected'\nthreshold = 'x'",
            "loop_detected",
            "threshold",
            "finite number",
        ),
        (
            "[[builtin]]\nrule = 'error_rate'\nseverity = 'loud'",
            "error_rate",
            "severity",
            "info, warning, critical",
        ),
        ("[[builtin]]\nrule = 'error_rate'\nof = 'human'", "error_rate", "of", "'llm' or 'tool'"),
        (
            "[[builtin]]\nrule='loop_detected'\n[[builtin]]\nrule='loop_detected'\n"
            "[[rule]]\nname='LoopDetected'\nkind='increase'\nthreshold=0\n"
            "metric='agentguard_loop_detections_total'",
            "LoopDetected",
            "name",
            "two rules have this name",
        ),
        ("[evaluation]\ninterval = 0", "[evaluation]", "interval", "more than 0"),
        ("[evaluation]\nspeed = 1", "[evaluation]", "speed", "unknown key"),
        ("[[webhook]]\nsecrets = []", "webhook[0]", "url", "is required"),
        (
            "[[webhook]]\nurl = 'http://alerts.example.com/'\nsecrets = ['" + SECRET + "']",
            "webhook[0]",
            "url",
            "https is required",
        ),
        (
            "[[webhook]]\nurl = 'https://10.0.0.8/'\nsecrets = ['" + SECRET + "']",
            "webhook[0]",
            "url",
            "not a public address",
        ),
        ("[[webhook]]\nurl = 'https://a.example/'", "webhook[0]", "secrets", "needs secrets"),
        (
            "[[webhook]]\nurl = 'https://a.example/'\nsecrets = ['whsec_!!']",
            "webhook[0]",
            "secrets",
            "base64",
        ),
        (
            "[[webhook]]\nurl = 'https://a.example/'\nsecrets_env = 'AGENTGUARD_NOT_SET_X'",
            "webhook[0]",
            "secrets_env",
            "no environment variable",
        ),
        (
            "[[webhook]]\nurl = 'https://a.example/'\nformat = 'slack'\nallow_networks = ['x']",
            "webhook[0]",
            "allow_networks",
            "not a CIDR range",
        ),
    ],
)
def test_a_mistake_names_the_file_the_rule_and_the_key(
    text: str, rule: str, key: str, message: str
) -> None:
    with pytest.raises(RuleConfigError) as caught:
        loads(text, source="rules.toml")
    error = caught.value
    assert (error.source, error.rule, error.key) == ("rules.toml", rule, key)
    assert message in str(error)
    assert str(error).startswith(f"rules.toml: rule {rule!r}: key {key!r}: ")


def test_not_toml_and_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match="not valid TOML"):
        loads("[[rule]\n")
    with pytest.raises(RuleConfigError, match="cannot read the rules file"):
        load(tmp_path / "missing.toml")
    with pytest.raises(RuleConfigError, match="key 'rules': unknown key"):
        loads("[[rules]]\nname = 'X'")


def test_a_secret_never_shows_in_an_error() -> None:
    secret = "whsec_" + "A" * 10 + "!!"
    with pytest.raises(RuleConfigError) as caught:
        loads(f"[[webhook]]\nurl = 'https://a.example/'\nsecrets = ['{secret}']")
    assert secret not in str(caught.value)
    assert "A" * 10 not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("1d", 86400.0), (42, 42.0)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-1s", True, float("inf"), "m"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
