"""Helpers for the receiver's tests: notifications, signatures, raw-socket requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from datetime import datetime, timezone

from standardwebhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"the first test secret, 32 bytes").decode()
"""The secret the default test receiver accepts."""
NEW_SECRET = "whsec_" + base64.b64encode(b"the rotated-in test secret bytes").decode()
"""A second secret, for rotation."""
OTHER_SECRET = "whsec_" + base64.b64encode(b"a secret the receiver never saw!").decode()
"""A secret no receiver accepts."""
TOKEN = "bearer-token-for-alertmanager"
"""The bearer token the default test receiver accepts."""
ANTHROPIC_SECRET = "whsec_" + base64.b64encode(b"Anthropic's webhook signing key!").decode()
"""The signing key of Anthropic platform webhooks a receiver is given in these tests."""


def anthropic_event(
    event_type: str = "session.budget_reached",
    *,
    event_id: str | None = None,
    resource_id: str = "sesn_011CZkZAtmR3yMPDzynEDxu7",
    **data: str,
) -> dict[str, object]:
    """An Anthropic platform webhook event body (``anthropic.types.beta.BetaWebhookEvent``)."""
    return {
        "type": "event",
        "id": event_id or f"wevt_{uuid.uuid4().hex}",
        "created_at": "2026-12-03T14:00:00Z",
        "data": {
            "type": event_type,
            "id": resource_id,
            "organization_id": "org_test",
            "workspace_id": "wrkspc_test",
            **data,
        },
    }


def notification(
    *, alertname: str = "HighErrorRate", status: str = "firing", **labels: str
) -> dict[str, object]:
    """An Alertmanager-v4 body with one alert."""
    alert_labels = {"alertname": alertname, "severity": "critical", **labels}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + alertname + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "agentguard",
        "groupLabels": {"alertname": alertname},
        "commonLabels": alert_labels,
        "commonAnnotations": {"summary": "errors above 5%"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {"summary": "errors above 5%"},
                "startsAt": "2026-11-26T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": "c0ffee0123456789",
            }
        ],
    }


def encode(document: object) -> bytes:
    """The JSON bytes a sender would post."""
    return json.dumps(document).encode()


def signed_headers(
    body: bytes,
    *,
    secret: str = SECRET,
    msg_id: str | None = None,
    timestamp_s: float | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed by the reference library."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = datetime.fromtimestamp(
        time.time() if timestamp_s is None else timestamp_s, tz=timezone.utc
    )
    try:
        signature = Webhook(secret).sign(msg_id=msg_id, timestamp=when, data=body.decode())
    except UnicodeDecodeError:  # the reference library signs text only; sign the bytes by hand
        key = base64.b64decode(secret.removeprefix("whsec_"))
        content = f"{msg_id}.{int(when.timestamp())}.".encode() + body
        signature = (
            "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        )
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


def raw_exchange(port: int, head: bytes, chunks: list[bytes], timeout_s: float = 5.0) -> bytes:
    """Send ``head`` and ``chunks`` on a raw socket without ending the body; return the answer.

    The body is never finished, so an answer proves the server decided while reading.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(head)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer
