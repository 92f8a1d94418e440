"""agentguard-receiver: receives signed alert webhooks (Alertmanager v4 bodies) and lists them.

The smallest use::

    from agentguard_receiver import Receiver, create_app

    app = create_app(secrets=["whsec_..."], token="for-alertmanager", db_path="alerts.db")
    with Receiver(app, port=9465) as receiver:
        ...  # POST {receiver.url}/webhooks/alerts; GET {receiver.url}/api/v1/alerts

or from a shell: ``python -m agentguard_receiver --secret whsec_... --db alerts.db``.
With ``anthropic_secrets=[...]`` (``--anthropic-secret-file``) it also takes Anthropic's own
platform webhooks on ``POST /webhooks/anthropic``: stored once each, the ones that matter
(budget reached, run failed, ...) turned into alerts.

Handlers run after each notification is acknowledged, off the request path:
``create_app(..., handlers=[log_alerts, load_handler("mypkg.alerts:page"),
forward_to("https://...", secrets=["whsec_..."])])`` (see :mod:`agentguard_receiver.handlers`).
"""

from __future__ import annotations

from agentguard_receiver.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_LIMIT_PER_S, create_app
from agentguard_receiver.cli import main
from agentguard_receiver.handlers import (
    AnthropicEvent,
    Received,
    forward_to,
    load_handler,
    log_alerts,
)
from agentguard_receiver.server import DEFAULT_HOST, DEFAULT_PORT, Receiver, serve

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_RATE_LIMIT_PER_S",
    "AnthropicEvent",
    "Received",
    "Receiver",
    "create_app",
    "forward_to",
    "load_handler",
    "log_alerts",
    "main",
    "serve",
]
