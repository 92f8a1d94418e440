"""What the evaluator hands to notifiers, and the bodies senders make of it.

A :class:`Notification` is one group of alerts at one moment, immutable. Senders render it as
an Alertmanager-v4 webhook body (:func:`alertmanager_body`, DESIGN.md section 5: what
Alertmanager itself posts, so receivers built for Alertmanager take it) or as a
Slack-compatible incoming-webhook body (:func:`slack_body`). Its :attr:`Notification.id`
(the ``webhook-id``) is derived from its content, so replicas agree on it (README, "Delivery").
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from agentguard.events import AlertState

__all__ = [
    "ZERO_TIME",
    "Alert",
    "Notification",
    "Notifier",
    "alertmanager_body",
    "fingerprint",
    "group_key",
    "notification_id",
    "slack_body",
]

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` of an alert still firing."""


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit identity of a label set (the alert's identity)."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def group_key(group_labels: Mapping[str, str]) -> str:
    """Alertmanager's group key: ``{}:{alertname="HighErrorRate"}``."""
    inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(group_labels.items()))
    return "{}:{" + inner + "}"


def _rfc3339(unix_s: float | None) -> str:
    if unix_s is None:
        return ZERO_TIME
    moment = datetime.fromtimestamp(unix_s, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: a rule's state for one group of labels."""

    status: AlertState
    """``firing`` or ``resolved``."""
    labels: Mapping[str, str]
    """``alertname``, ``severity``, the rule's labels and the group's."""
    annotations: Mapping[str, str]
    """``summary`` (and ``description``), rendered."""
    starts_at_unix_s: float
    """When it started firing."""
    ends_at_unix_s: float | None
    """When it resolved; ``None`` while firing."""
    value: float | None
    """The rule's value at the last evaluation (``None``: no data)."""
    fingerprint: str
    """The identity of its labels (:func:`fingerprint`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """A group of alerts to send at once; the unit of delivery and of deduplication."""

    group_labels: Mapping[str, str]
    """The labels the alerts are grouped by (``alertname`` by default)."""
    alerts: tuple[Alert, ...]
    """The group's firing alerts and those resolved since the last notification."""
    receiver: str = "agentguard"
    """The ``receiver`` field: the sender's name for where this goes."""
    external_url: str = ""
    """Where a person can see more (the dashboard), or ``""``."""
    sequence: int = 0
    """How many notifications of this group were made before it since it began firing."""
    fencing_token: int | None = None
    """The lease's fencing token of the evaluator that sent it (not part of :attr:`id`)."""

    @property
    def status(self) -> AlertState:
        """``firing`` when any alert fires, else ``resolved``."""
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def group_key(self) -> str:
        """The group's key, as Alertmanager writes it."""
        return group_key(self.group_labels)

    @property
    def id(self) -> str:
        """Its ``webhook-id``: :func:`notification_id`."""
        return notification_id(self)


class Notifier(Protocol):
    """Where the evaluator sends notifications; it must never block nor raise.

    :class:`~agentguard_alerts.webhook.WebhookSender` is one; a list of them is fine.
    """

    def notify(self, notification: Notification) -> None:
        """Take ``notification`` for delivery (queue it; never block on I/O)."""
        ...

    def flush(self, timeout_s: float) -> bool:
        """Deliver what is queued, waiting at most ``timeout_s``; whether all of it went."""
        ...

    def close(self) -> None:
        """Deliver what is queued (bounded), then stop."""
        ...


_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://agentguard.dev/alerts/webhook-id")


def notification_id(notification: Notification) -> str:
    """``msg_`` and a UUID5 of the group, its sequence and each alert's transition.

    The transition of an alert is its fingerprint (the rule's name and the group's labels),
    its status and its start time (``startsAt`` while firing; ``endsAt`` too once resolved),
    as the body writes them. Equal notifications get equal ids in any process, so a receiver
    that dedupes on ``webhook-id`` stores what two replicas both send once; a new firing, a
    resolution and a repeat (``sequence``) each get a new one.
    """
    lines = [notification.group_key, str(notification.sequence)]
    lines += sorted(
        f"{a.fingerprint} {a.status} {_rfc3339(a.starts_at_unix_s)} {_rfc3339(a.ends_at_unix_s)}"
        for a in notification.alerts
    )
    return "msg_" + uuid.uuid5(_ID_NAMESPACE, "\n".join(lines)).hex


def _common(maps: list[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def alertmanager_body(notification: Notification) -> bytes:
    """The Alertmanager-v4 webhook body, as UTF-8 JSON bytes (ASCII, keys sorted)."""
    alerts = notification.alerts
    document = {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": 0,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": notification.external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "startsAt": _rfc3339(a.starts_at_unix_s),
                "endsAt": _rfc3339(a.ends_at_unix_s),
                "generatorURL": notification.external_url,
                "fingerprint": a.fingerprint,
            }
            for a in alerts
        ],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def slack_body(notification: Notification) -> bytes:
    """A Slack-compatible incoming-webhook body: ``{"text": ...}`` in Slack's mrkdwn.

    ``<``, ``>`` and ``&`` in labels and annotations are escaped as Slack asks, so a label
    cannot inject a mention or a link.
    """

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    firing = sum(a.status == "firing" for a in notification.alerts)
    name = notification.group_labels.get("alertname", notification.group_key)
    head = f"*[{notification.status.upper()}{f':{firing}' if firing else ''}] {esc(name)}*"
    lines = [head]
    for a in notification.alerts:
        mark = ":red_circle:" if a.status == "firing" else ":white_check_mark:"
        summary = a.annotations.get("summary", "")
        labels = ", ".join(
            f"{esc(k)}={esc(v)}" for k, v in sorted(a.labels.items()) if k != "alertname"
        )
        lines.append(f"{mark} {esc(summary)} ({labels})")
    if notification.external_url:
        lines.append(esc(notification.external_url))
    return json.dumps({"text": "\n".join(lines)}).encode()
