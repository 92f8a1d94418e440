"""Anthropic platform webhooks: the event body, and the alerts the events that matter become.

Anthropic signs per Standard Webhooks (as the SDK's ``client.beta.webhooks.unwrap`` checks);
the receiver checks with its own :class:`~agentguard_receiver._auth.Authenticator`, tested
against the reference library. The body is an ``event`` object
(``anthropic.types.beta.BetaWebhookEvent``): ``{"type": "event", "id": "wevt_...",
"created_at": ..., "data": {"type": "session.budget_reached", "id": "sesn_...", ...}}``.

The trap: only ``id``, ``created_at``, ``data.type`` and ``data.id`` are required; new event
types and fields appear and are stored like the rest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from agentguard_receiver._payload import (
    Alert,
    MalformedPayload,
    Notification,
    decode_json,
)

__all__ = [
    "ALERTING_EVENTS",
    "KNOWN_EVENTS",
    "STORED_EVENTS",
    "AlertRule",
    "AnthropicEvent",
    "alertmanager_body",
    "alerts_for",
    "parse_event",
]

_MAX_ID = 256
_LABEL = re.compile(r"[a-z][a-z0-9_]{0,60}_id")
_ZERO_TIME = "0001-01-01T00:00:00Z"
_RECEIVER = "anthropic"
_NOT_IDENTITY = frozenset({"enforcement_action_id"})
"""Ids that differ between a firing event and the one resolving it: annotations, not labels."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnthropicEvent:
    """One Anthropic platform webhook event, checked for shape."""

    event_id: str
    """The event's ``id`` (Anthropic's idempotency key: the same in every retry)."""
    type: str
    """``data.type``: ``session.budget_reached``, ``deployment_run.failed``, ..."""
    created_at: str
    """When the event occurred, RFC 3339 as sent."""
    data: Mapping[str, object]
    """``data`` exactly as sent, unknown fields included."""

    @property
    def resource_id(self) -> str:
        """``data.id``: the session, deployment run, credential, ... the event is about."""
        value = self.data["id"]
        assert isinstance(value, str)
        return value

    def ids(self) -> dict[str, str]:
        """The event's ids as labels.

        ``session_id`` for ``data.id`` of a ``session.*`` event (the part of the type before
        the dot, and ``_id``), and every ``*_id`` string field of ``data`` (``vault_id``,
        ``workspace_id``, ...).
        """
        resource = self.type.partition(".")[0]
        found = {f"{resource}_id": self.resource_id}
        for key, value in self.data.items():
            if _LABEL.fullmatch(key) and isinstance(value, str) and len(value) <= _MAX_ID:
                found.setdefault(key, value)
        return found


def _short_text(document: Mapping[str, object], key: str, where: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_ID:
        raise MalformedPayload(f"{where}{key} must be a string of 1 to {_MAX_ID} characters")
    return value


def parse_event(body: bytes) -> AnthropicEvent:
    """Decode ``body`` and check that it has the shape of an Anthropic webhook event.

    Raises:
        MalformedPayload: with a message that is safe to send back to the client.
    """
    document = decode_json(body)
    if not isinstance(document, dict):
        raise MalformedPayload("the body must be a JSON object")
    data = document.get("data")
    if not isinstance(data, dict):
        raise MalformedPayload("data must be an object")
    event = AnthropicEvent(
        event_id=_short_text(document, "id", ""),
        type=_short_text(data, "type", "data."),
        created_at=_short_text(document, "created_at", ""),
        data=data,
    )
    _short_text(data, "id", "data.")
    return event


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """How one event type becomes an alert."""

    alertname: str
    """The alert's ``alertname`` label."""
    severity: str
    """``critical`` or ``warning``."""
    status: str
    """``firing``, or ``resolved`` for an event that ends an earlier one (same labels)."""
    summary: str
    """One line; ``{id}`` is replaced by ``data.id``."""


ALERTING_EVENTS: Final[Mapping[str, AlertRule]] = {
    "session.budget_reached": AlertRule(
        alertname="AnthropicSessionBudgetReached",
        severity="warning",
        status="firing",
        summary="Managed Agents session {id} reached its budget and stopped",
    ),
    "session.status_terminated": AlertRule(
        alertname="AnthropicSessionTerminated",
        severity="warning",
        status="firing",
        summary="Managed Agents session {id} terminated (after a terminal error, or ended); "
        "its events say which",
    ),
    "deployment_run.failed": AlertRule(
        alertname="AnthropicDeploymentRunFailed",
        severity="critical",
        status="firing",
        summary="deployment run {id} failed",
    ),
    "vault_credential.refresh_failed": AlertRule(
        alertname="AnthropicCredentialRefreshFailed",
        severity="critical",
        status="firing",
        summary="vault credential {id} could not be refreshed; sessions using it will fail",
    ),
    "external_key.failed": AlertRule(
        alertname="AnthropicExternalKeyFailed",
        severity="critical",
        status="firing",
        summary="external key {id} stopped working",
    ),
    "external_key.recovered": AlertRule(
        alertname="AnthropicExternalKeyFailed",
        severity="critical",
        status="resolved",
        summary="external key {id} works again",
    ),
    "external_storage.failed": AlertRule(
        alertname="AnthropicExternalStorageFailed",
        severity="critical",
        status="firing",
        summary="external storage {id} failed Anthropic's check",
    ),
    "external_storage.recovered": AlertRule(
        alertname="AnthropicExternalStorageFailed",
        severity="critical",
        status="resolved",
        summary="external storage {id} passes Anthropic's check again",
    ),
    "user_profile.enforcement_action_opened": AlertRule(
        alertname="AnthropicEnforcementAction",
        severity="critical",
        status="firing",
        summary="an enforcement action was opened on user profile {id}",
    ),
    "user_profile.enforcement_action_resolved": AlertRule(
        alertname="AnthropicEnforcementAction",
        severity="critical",
        status="resolved",
        summary="the enforcement action on user profile {id} was resolved",
    ),
}
"""The event types that become alerts; every other type is stored only."""


STORED_EVENTS: Final = frozenset(
    {
        "agent.archived",
        "agent.created",
        "agent.deleted",
        "agent.updated",
        "deployment.archived",
        "deployment.created",
        "deployment.deleted",
        "deployment.paused",
        "deployment.unpaused",
        "deployment.updated",
        "deployment_run.started",
        "deployment_run.succeeded",
        "environment.archived",
        "environment.created",
        "environment.deleted",
        "environment.updated",
        "memory_store.archived",
        "memory_store.created",
        "memory_store.deleted",
        "session.archived",
        "session.created",
        "session.deleted",
        "session.idled",
        "session.outcome_evaluation_ended",
        "session.pending",
        "session.requires_action",
        "session.running",
        "session.status_idled",
        "session.status_rescheduled",
        "session.status_run_started",
        "session.thread_created",
        "session.thread_idled",
        "session.thread_terminated",
        "session.updated",
        "user_profile.program_status_updated",
        "vault.archived",
        "vault.created",
        "vault.deleted",
        "vault_credential.archived",
        "vault_credential.created",
        "vault_credential.deleted",
    }
)
"""The event types the anthropic SDK knows that are stored only (lifecycle and progress)."""

KNOWN_EVENTS: Final = frozenset(ALERTING_EVENTS) | STORED_EVENTS
"""Every event type this receiver knows; others are stored, counted and logged once."""


def _fingerprint(labels: Mapping[str, str]) -> str:
    # agentguard_alerts.fingerprint's hash, so a forwarded alert keeps its identity; the
    # receiver cannot import it (agentguard-alerts is only its `forward` extra).
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alerts_for(event: AnthropicEvent) -> Notification | None:
    """The notification an event becomes, or ``None`` for an event that is stored only.

    A ``resolved`` event carries the labels of the ``firing`` one it ends, so both share a
    fingerprint (an enforcement action's own id is an annotation, the profile's a label).
    """
    rule = ALERTING_EVENTS.get(event.type)
    if rule is None:
        return None
    ids = event.ids()
    labels = {
        "alertname": rule.alertname,
        "severity": rule.severity,
        "source": "anthropic",
        **{key: value for key, value in ids.items() if key not in _NOT_IDENTITY},
    }
    annotations = {
        "summary": rule.summary.format(id=event.resource_id),
        "event_type": event.type,
        "event_id": event.event_id,
        **{key: value for key, value in ids.items() if key in _NOT_IDENTITY},
    }
    alert = Alert(
        status=rule.status,
        labels=labels,
        annotations=annotations,
        starts_at=event.created_at,
        ends_at=event.created_at if rule.status == "resolved" else _ZERO_TIME,
        fingerprint=_fingerprint(labels),
    )
    return Notification(
        group_key='{}:{alertname="' + rule.alertname + '"}',
        status=rule.status,
        receiver=_RECEIVER,
        alerts=(alert,),
    )


def alertmanager_body(notification: Notification) -> bytes:
    """The Alertmanager-v4 body of a notification made from an event (what is forwarded).

    The shape of ``agentguard_alerts.alertmanager_body``, which the receiver cannot import
    (agentguard-alerts is only its ``forward`` extra); times stay the event's RFC 3339 text.
    """
    (alert,) = notification.alerts
    document = {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": 0,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": {"alertname": alert.labels["alertname"]},
        "commonLabels": alert.labels,
        "commonAnnotations": alert.annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": alert.status,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": alert.starts_at,
                "endsAt": alert.ends_at,
                "fingerprint": alert.fingerprint,
            }
        ],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
