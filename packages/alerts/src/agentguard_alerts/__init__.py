"""agentguard-alerts: alert rules over the metric store, and signed webhook delivery.

Rules are thresholds over a sliding window of the metric store (counter increases, ratios,
quantiles, maxima, gauges) with a ``for`` duration, labels, a severity and a summary
template. An :class:`Evaluator` runs them in the agent's process (:func:`embedded`) or
centrally over any store (:func:`load` a rules file, then ``.evaluator(store)``), publishes
``AlertStateChanged`` on every change and hands notifications to a :class:`WebhookSender`::

    from agentguard_alerts import WebhookSender, default_rules, embedded

    sender = WebhookSender("https://alerts.example.com/webhooks/alerts", secrets=["whsec_..."])
    evaluator = embedded(default_rules(), sender).start()  # every 15 s, on a thread
    ...
    evaluator.close()  # stops, then delivers what is queued (bounded) and closes the sender
"""

from __future__ import annotations

import typing
import warnings

from agentguard_alerts import builtin
from agentguard_alerts.builtin import BUILTINS, default_rules
from agentguard_alerts.config import AlertsConfig, WebhookConfig, load, loads, parse_duration
from agentguard_alerts.errors import AlertsError, RuleConfigError, TargetRefused
from agentguard_alerts.evaluator import (
    DEFAULT_INTERVAL_S,
    DEFAULT_REPEAT_INTERVAL_S,
    Evaluator,
    embedded,
)
from agentguard_alerts.expressions import (
    Change,
    Expression,
    Gauge,
    Increase,
    Max,
    Quantile,
    Ratio,
)
from agentguard_alerts.lease import Lease, LeaseState, RedisLease, SoleLease, replica_id
from agentguard_alerts.notification import (
    Alert,
    Notification,
    Notifier,
    alertmanager_body,
    slack_body,
)
from agentguard_alerts.rules import Comparison, Rule, Severity
from agentguard_alerts.targets import TargetPolicy
from agentguard_alerts.webhook import WebhookSender

__all__ = [
    "BUILTINS",
    "DEFAULT_INTERVAL_S",
    "DEFAULT_REPEAT_INTERVAL_S",
    "Alert",
    "AlertsConfig",
    "AlertsError",
    "Change",
    "Comparison",
    "Evaluator",
    "Expression",
    "Gauge",
    "Increase",
    "Lease",
    "LeaseState",
    "Max",
    "Notification",
    "Notifier",
    "Quantile",
    "Ratio",
    "RedisLease",
    "Rule",
    "RuleConfigError",
    "Severity",
    "SoleLease",
    "TargetPolicy",
    "TargetRefused",
    "WebhookConfig",
    "WebhookSender",
    "alertmanager_body",
    "builtin",
    "default_rules",
    "embedded",
    "load",
    "loads",
    "parse_duration",
    "replica_id",
    "slack_body",
]

_MOVED = {"MetricsReader": "Store", "HistogramView": "Sketch"}
"""Protocols this package had of its own, now agentguard-metrics' (one release more)."""


def __getattr__(name: str) -> typing.Any:
    """``MetricsReader`` and ``HistogramView``: the store protocol's names, with a warning."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"agentguard_alerts.{name} is agentguard_metrics.{_MOVED[name]} now: import that",
        DeprecationWarning,
        stacklevel=2,
    )
    import agentguard_metrics

    return getattr(agentguard_metrics, _MOVED[name])
