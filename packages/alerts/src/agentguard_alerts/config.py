"""Rules files (TOML): rules, built-ins, webhooks and evaluation settings in one place.

``agentguard serve --rules FILE`` runs ``load(FILE).evaluator(store)``. The format is in
packages/alerts/README.md ("Rules files (TOML)"); ``examples/alert_rules.toml`` is a complete file.

The trap: every mistake raises :class:`~agentguard_alerts.errors.RuleConfigError` naming the
file, the rule and the key; keep new keys to that.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentguard import Bus
from agentguard_alerts.builtin import BUILTINS, default_rules
from agentguard_alerts.errors import RuleConfigError
from agentguard_alerts.evaluator import DEFAULT_INTERVAL_S, DEFAULT_REPEAT_INTERVAL_S, Evaluator
from agentguard_alerts.expressions import (
    Change,
    Expression,
    Gauge,
    Increase,
    Max,
    Quantile,
    Ratio,
)
from agentguard_alerts.rules import Rule
from agentguard_metrics import Store

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (Python 3.10)
    import tomli as tomllib

if TYPE_CHECKING:
    from agentguard_alerts.lease import Lease
    from agentguard_alerts.notification import Notifier
    from agentguard_alerts.webhook import WebhookSender

__all__ = ["AlertsConfig", "WebhookConfig", "load", "loads", "parse_duration"]

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")
_RULE_OPTIONS = {
    "name",
    "op",
    "threshold",
    "window",
    "for",
    "by",
    "labels",
    "severity",
    "summary",
    "description",
    "repeat_interval",
}
_DURATIONS = {"window": "window_s", "for": "for_s", "repeat_interval": "repeat_interval_s"}
_KINDS: dict[str, set[str]] = {
    "increase": {"metric", "where"},
    "ratio": {"metric", "where", "denominator", "denominator_where", "min_count"},
    "change": {"metric", "where", "min_previous"},
    "quantile": {"metric", "where", "q"},
    "max": {"metric", "where"},
    "gauge": {"metric", "where"},
}
_TOP = {"include_defaults", "evaluation", "webhook", "builtin", "rule"}
_EVALUATION = {"interval", "repeat_interval", "group_by", "receiver", "external_url"}
_WEBHOOK = {
    "url",
    "secrets",
    "secrets_env",
    "format",
    "allow_http",
    "allow_private",
    "allow_networks",
    "timeout",
    "max_attempts",
    "max_horizon",
}


def parse_duration(value: object) -> float:
    """Seconds from a number or a text like ``"90s"``, ``"5m"``, ``"1h30m"``, ``"1d"``.

    Raises:
        ValueError: anything else, or a negative or infinite number.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 <= value < float("inf"):
            raise ValueError(f"a duration must be >= 0 and finite, got {value!r}")
        return float(value)
    if isinstance(value, str) and value:
        match = _DURATION.fullmatch(value.strip())
        if match and any(match.groups()):
            d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
            return d * 86400 + h * 3600 + m * 60 + s
    raise ValueError(f"a duration is a number of seconds or a text like '5m', got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookConfig:
    """One ``[[webhook]]`` table; :meth:`sender` makes its :class:`WebhookSender`."""

    url: str
    secrets: tuple[str, ...] = field(default=(), repr=False)
    format: Literal["alertmanager", "slack"] = "alertmanager"
    allow_http: bool = False
    allow_private: bool = False
    allow_networks: tuple[str, ...] = ()
    timeout_s: float = 5.0
    max_attempts: int = 10
    max_horizon_s: float = 900.0

    def sender(self, **overrides: Any) -> WebhookSender:
        """A started sender for this target (``overrides`` are WebhookSender's options)."""
        from agentguard_alerts.webhook import WebhookSender

        options: dict[str, Any] = {
            "secrets": self.secrets,
            "format": self.format,
            "allow_http": self.allow_http,
            "allow_private": self.allow_private,
            "allow_networks": self.allow_networks,
            "timeout_s": self.timeout_s,
            "max_attempts": self.max_attempts,
            "max_horizon_s": self.max_horizon_s,
        }
        return WebhookSender(self.url, **{**options, **overrides})


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    """A rules file, read: the rules, the webhooks and how to evaluate."""

    rules: tuple[Rule, ...]
    webhooks: tuple[WebhookConfig, ...] = ()
    interval_s: float = DEFAULT_INTERVAL_S
    repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S
    group_by: tuple[str, ...] = ("alertname",)
    receiver: str = "agentguard"
    external_url: str = ""

    def evaluator(
        self,
        store: Store,
        notifiers: Notifier | Sequence[Notifier] | None = None,
        *,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
        lease: Lease | None = None,
    ) -> Evaluator:
        """An evaluator of these rules over ``store`` (not started: call ``start()``).

        ``notifiers`` defaults to a sender per ``[[webhook]]``, closed with the evaluator,
        fenced by ``lease`` (a :class:`~agentguard_alerts.RedisLease` among replicas).
        """
        if notifiers is None:
            fence = None if lease is None else lease.valid
            notifiers = [webhook.sender(fence=fence) for webhook in self.webhooks]
        return Evaluator(
            store,
            self.rules,
            notifiers,
            bus=bus,
            clock=clock,
            interval_s=self.interval_s,
            repeat_interval_s=self.repeat_interval_s,
            group_by=self.group_by,
            receiver=self.receiver,
            external_url=self.external_url,
            lease=lease,
        )


def load(path: str | os.PathLike[str]) -> AlertsConfig:
    """Read a rules file.

    Raises:
        RuleConfigError: the file cannot be read, is not TOML, or holds a mistake (the
            message names the file, the rule and the key).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleConfigError(f"cannot read the rules file: {exc}", source=source) from None
    return loads(text, source=source)


def loads(text: str, *, source: str = "<rules>") -> AlertsConfig:
    """Read a rules file's text; ``source`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleConfigError(f"not valid TOML: {exc}", source=source) from None
    return _Reader(source).config(document)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, message: str, rule: str | None = None, key: str | None = None) -> Exception:
        return RuleConfigError(message, rule=rule, key=key, source=self.source)

    def unknown(self, table: Mapping[str, Any], known: set[str], rule: str | None) -> None:
        for key in table:
            if key not in known:
                raise self.error(f"unknown key; known keys: {', '.join(sorted(known))}", rule, key)

    def config(self, document: dict[str, Any]) -> AlertsConfig:
        self.unknown(document, _TOP, None)
        evaluation = self.table(document.get("evaluation", {}), "evaluation")
        self.unknown(evaluation, _EVALUATION, "[evaluation]")
        rules: list[Rule] = []
        include = document.get("include_defaults", False)
        if not isinstance(include, bool):
            raise self.error("must be true or false", None, "include_defaults")
        if include:
            rules.extend(default_rules())
        for index, table in enumerate(self.tables(document, "builtin")):
            rule = self.builtin(table, index)
            rules = [r for r in rules if r.name != rule.name] + [rule]
        for index, table in enumerate(self.tables(document, "rule")):
            rules.append(self.rule(table, index))
        names = [r.name for r in rules]
        for name in names:
            if names.count(name) > 1:
                raise self.error("two rules have this name; names must be unique", name, "name")
        where = "[evaluation]"
        group_by = evaluation.get("group_by", ["alertname"])
        if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
            raise self.error("must be a list of label names", where, "group_by")
        return AlertsConfig(
            rules=tuple(rules),
            webhooks=tuple(
                self.webhook(t, i) for i, t in enumerate(self.tables(document, "webhook"))
            ),
            interval_s=self.duration(evaluation, "interval", where, DEFAULT_INTERVAL_S),
            repeat_interval_s=self.duration(
                evaluation, "repeat_interval", where, DEFAULT_REPEAT_INTERVAL_S
            ),
            group_by=tuple(group_by),
            receiver=self.text(evaluation, "receiver", where, "agentguard"),
            external_url=self.text(evaluation, "external_url", where, ""),
        )

    def table(self, value: object, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"[{name}] must be a table", None, name)
        return value

    def tables(self, document: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        value = document.get(name, [])
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise self.error(f"write each one as a [[{name}]] table", None, name)
        return value

    def duration(self, table: Mapping[str, Any], key: str, rule: str, default: float) -> float:
        if key not in table:
            return default
        try:
            seconds = parse_duration(table[key])
        except ValueError as exc:
            raise self.error(str(exc), rule, key) from None
        if seconds <= 0:
            raise self.error("must be more than 0", rule, key)
        return seconds

    def text(self, table: Mapping[str, Any], key: str, rule: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.error(f"must be a string, got {value!r}", rule, key)
        return value

    def rule_options(self, table: Mapping[str, Any], rule: str) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for key, value in table.items():
            if key in _DURATIONS:
                try:
                    seconds = parse_duration(value)
                except ValueError as exc:
                    raise self.error(str(exc), rule, key) from None
                whole = key == "window" and seconds == int(seconds)
                options[_DURATIONS[key]] = int(seconds) if whole else seconds
            elif key == "by":
                if not isinstance(value, list):
                    raise self.error("must be a list of label names", rule, key)
                options["by"] = tuple(value)
            else:
                options[key] = value
        return options

    def builtin(self, table: dict[str, Any], index: int) -> Rule:
        kind = table.get("rule")
        where = f"builtin[{index}]"
        if not isinstance(kind, str) or kind not in BUILTINS:
            raise self.error(f"must name a built-in rule: {', '.join(BUILTINS)}", where, "rule")
        make = BUILTINS[kind]
        own = [
            p.name
            for p in inspect.signature(make).parameters.values()
            if p.kind is not p.VAR_KEYWORD
        ]
        known = set(own) | _RULE_OPTIONS | {"rule"}
        name = table.get("name", kind)
        self.unknown(table, known, str(name))
        required = [
            p.name
            for p in inspect.signature(make).parameters.values()
            if p.default is p.empty and p.kind is not p.VAR_KEYWORD
        ]
        for key in required:
            if key not in table:
                raise self.error(f"{kind} has no default {key}; give one", str(name), key)
        options = self.rule_options({k: v for k, v in table.items() if k != "rule"}, str(name))
        return self.build(lambda: make(**options), str(name))

    def rule(self, table: dict[str, Any], index: int) -> Rule:
        name = table.get("name")
        label = name if isinstance(name, str) else f"rule[{index}]"
        kind = table.get("kind")
        if kind not in _KINDS:
            raise self.error(f"must be one of {', '.join(_KINDS)}", label, "kind")
        expression_keys = _KINDS[kind]
        self.unknown(table, _RULE_OPTIONS | expression_keys | {"kind"}, label)
        for key in ("name", "metric", "threshold"):
            if key not in table:
                raise self.error("is required", label, key)
        options = self.rule_options(
            {k: v for k, v in table.items() if k not in expression_keys and k != "kind"}, label
        )
        return self.build(lambda: Rule(expr=self.expression(kind, table), **options), label)

    def expression(self, kind: str, table: Mapping[str, Any]) -> Expression:
        metric = table["metric"]
        if not isinstance(metric, str):
            raise RuleConfigError(f"must be a metric name, got {metric!r}", key="metric")
        where = table.get("where")
        if kind == "increase":
            return Increase(metric, where)
        if kind == "ratio":
            denominator = table.get("denominator", metric)
            if not isinstance(denominator, str):
                raise RuleConfigError("must be a metric name", key="denominator")
            try:
                below = Increase(denominator, table.get("denominator_where"))
            except RuleConfigError as exc:
                raise RuleConfigError(exc.reason, key="denominator_where") from None
            return Ratio(Increase(metric, where), below, table.get("min_count", 1.0))
        if kind == "change":
            return Change(Increase(metric, where), table.get("min_previous", 0.0))
        if kind == "quantile":
            if "q" not in table:
                raise RuleConfigError("is required for a quantile (0.95 for p95)", key="q")
            return Quantile(metric, table["q"], where)
        if kind == "max":
            return Max(metric, where)
        return Gauge(metric, where)

    def build(self, make: Callable[[], Rule], rule: str) -> Rule:
        try:
            return make()
        except RuleConfigError as exc:
            raise RuleConfigError(exc.reason, rule=rule, key=exc.key, source=self.source) from None
        except TypeError as exc:
            raise self.error(f"wrong type: {exc}", rule, None) from None

    def webhook(self, table: dict[str, Any], index: int) -> WebhookConfig:
        where = f"webhook[{index}]"
        self.unknown(table, _WEBHOOK, where)
        url = table.get("url")
        if not isinstance(url, str):
            raise self.error("is required: the URL to post alerts to", where, "url")
        secrets = table.get("secrets", [])
        if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
            raise self.error("must be a list of 'whsec_...' secrets", where, "secrets")
        if "secrets_env" in table:
            variable = table["secrets_env"]
            if not isinstance(variable, str) or variable not in os.environ:
                raise self.error(
                    f"names no environment variable that is set: {variable!r}",
                    where,
                    "secrets_env",
                )
            secrets = [*secrets, *os.environ[variable].replace(",", " ").split()]
        flags = {}
        for key in ("allow_http", "allow_private"):
            flags[key] = table.get(key, False)
            if not isinstance(flags[key], bool):
                raise self.error("must be true or false", where, key)
        networks = table.get("allow_networks", [])
        if not isinstance(networks, list) or not all(isinstance(n, str) for n in networks):
            raise self.error("must be a list of CIDR ranges", where, "allow_networks")
        attempts = table.get("max_attempts", 10)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise self.error("must be a whole number >= 1", where, "max_attempts")
        fmt = table.get("format", "alertmanager")
        if fmt not in ("alertmanager", "slack"):
            raise self.error("must be 'alertmanager' or 'slack'", where, "format")
        config = WebhookConfig(
            url=url,
            secrets=tuple(secrets),
            format=fmt,
            allow_http=flags["allow_http"],
            allow_private=flags["allow_private"],
            allow_networks=tuple(networks),
            timeout_s=self.duration(table, "timeout", where, 5.0),
            max_attempts=attempts,
            max_horizon_s=self.duration(table, "max_horizon", where, 900.0),
        )
        self.check_webhook(config, where)
        return config

    def check_webhook(self, config: WebhookConfig, where: str) -> None:
        from agentguard_alerts.targets import TargetPolicy
        from agentguard_alerts.webhook import _webhook

        try:
            policy = TargetPolicy.of(
                allow_http=config.allow_http,
                allow_private=config.allow_private,
                allow_networks=config.allow_networks,
            )
        except ValueError as exc:
            raise self.error(str(exc), where, "allow_networks") from None
        try:
            policy.check_url(config.url)
        except ValueError as exc:
            raise self.error(str(exc), where, "url") from None
        try:
            for i, secret in enumerate(config.secrets):
                _webhook(secret, i)
        except ValueError as exc:
            raise self.error(str(exc), where, "secrets") from None
        if config.format == "alertmanager" and not config.secrets:
            raise self.error(
                "an Alertmanager-format webhook needs secrets (or secrets_env)", where, "secrets"
            )
