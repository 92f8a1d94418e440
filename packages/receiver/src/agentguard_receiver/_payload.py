"""Parsing and validating an Alertmanager-v4 notification body."""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Alert", "MalformedPayload", "Notification", "decode_json", "parse_notification"]

_STATUSES = frozenset({"firing", "resolved"})
_MAX_ALERTS = 1_000
_MAX_TEXT = 16_384


class MalformedPayload(ValueError):  # noqa: N818 (reads as a fact, like KeyError)
    """The body is not UTF-8, not JSON, or not an Alertmanager-v4 notification."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert of a notification, as Alertmanager sends it."""

    status: str
    """``firing`` or ``resolved``."""
    labels: dict[str, str]
    """The labels that identify the alert."""
    annotations: dict[str, str]
    """Free text about the alert (summary, description)."""
    starts_at: str
    """When it started firing, RFC 3339 as sent."""
    ends_at: str
    """When it resolved, RFC 3339 as sent (Alertmanager's zero time while firing)."""
    fingerprint: str
    """Alertmanager's identity of the label set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One webhook notification: a group of alerts."""

    group_key: str
    """The key of the group the alerts belong to."""
    status: str
    """``firing`` when any alert fires, else ``resolved``."""
    receiver: str
    """The name of the receiver in the sender's configuration."""
    alerts: tuple[Alert, ...]
    """The alerts of the group."""


def _reject_constant(name: str) -> object:
    raise MalformedPayload(f"the body holds {name}, which JSON does not allow")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} must be a string, got {type(value).__name__}")
    if len(value) > _MAX_TEXT:
        raise MalformedPayload(f"{where} is longer than {_MAX_TEXT} characters")
    return value


def _status(value: object, where: str) -> str:
    status = _text(value, where)
    if status not in _STATUSES:
        raise MalformedPayload(f"{where} must be 'firing' or 'resolved'")
    return status


def _string_map(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object of strings")
    return {
        _text(key, f"a key of {where}"): _text(item, f"{where}.{key}")
        for key, item in value.items()
    }


def _alert(value: object, index: int) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object")
    try:
        return Alert(
            status=_status(value["status"], f"{where}.status"),
            labels=_string_map(value["labels"], f"{where}.labels"),
            annotations=_string_map(value["annotations"], f"{where}.annotations"),
            starts_at=_text(value["startsAt"], f"{where}.startsAt"),
            ends_at=_text(value["endsAt"], f"{where}.endsAt"),
            fingerprint=_text(value["fingerprint"], f"{where}.fingerprint"),
        )
    except KeyError as exc:
        raise MalformedPayload(f"{where} lacks the field {exc.args[0]!r}") from None


def decode_json(body: bytes) -> object:
    """The JSON document of a UTF-8 body (``NaN`` and ``Infinity`` refused).

    Raises:
        MalformedPayload: with a message that is safe to send back to the client.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayload("the body is not UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedPayload("the body nests JSON too deeply") from None
    except ValueError as exc:
        if isinstance(exc, MalformedPayload):
            raise
        raise MalformedPayload("the body is not valid JSON") from None
    return document


def parse_notification(body: bytes) -> Notification:
    """Decode ``body`` and check that it has the shape of an Alertmanager-v4 notification.

    Unknown extra fields (``truncatedAlerts``, ``generatorURL``) are accepted and ignored.

    Raises:
        MalformedPayload: with a message that is safe to send back to the client.
    """
    document = decode_json(body)
    if not isinstance(document, dict):
        raise MalformedPayload("the body must be a JSON object")
    try:
        if document["version"] != "4":
            raise MalformedPayload("version must be '4'")
        _string_map(document["groupLabels"], "groupLabels")
        _string_map(document["commonLabels"], "commonLabels")
        _string_map(document["commonAnnotations"], "commonAnnotations")
        _text(document["externalURL"], "externalURL")
        alerts = document["alerts"]
        if not isinstance(alerts, list):
            raise MalformedPayload("alerts must be a list")
        if len(alerts) > _MAX_ALERTS:
            raise MalformedPayload(f"alerts holds more than {_MAX_ALERTS} alerts")
        return Notification(
            group_key=_text(document["groupKey"], "groupKey"),
            status=_status(document["status"], "status"),
            receiver=_text(document["receiver"], "receiver"),
            alerts=tuple(_alert(alert, index) for index, alert in enumerate(alerts)),
        )
    except KeyError as exc:
        raise MalformedPayload(f"the body lacks the field {exc.args[0]!r}") from None
