"""Alerts on the embedded default: a tool loop fires a rule, a signed webhook reaches a receiver.

Everything runs in this process: a receiver on a free loopback port, the loop guard, the
built-in LoopDetected rule over an in-memory store, and the webhook sender. In production the
receiver runs elsewhere (``agentguard receive``) and the URL is https.
"""

from __future__ import annotations

import base64
import secrets

import httpx2

from agentguard import run_context
from agentguard_alerts import WebhookSender, builtin, embedded
from agentguard_loopguard import LoopGuard, ToolLoopDetected, max_repeats
from agentguard_receiver import Receiver, create_app

secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()

with Receiver(create_app(secrets=[secret])) as receiver:
    sender = WebhookSender(
        f"{receiver.url}/webhooks/alerts",
        secrets=[secret],
        allow_http=True,  # loopback, for the example; real targets need https
        allow_private=True,
    )
    evaluator = embedded([builtin.loop_detected()], sender)  # .start() runs it every 15 s
    guard = LoopGuard(max_repeats(3))

    @guard.watch
    def search(query: str) -> str:
        return "no results"

    try:
        with run_context("researcher"):
            while True:
                search("the same question")
    except ToolLoopDetected as stopped:
        print(f"the loop guard stopped the run: {stopped}")

    for notification in evaluator.evaluate():
        print(f"notified: {notification.status} {notification.group_key}")
    evaluator.close()  # delivers what is queued, then stops the sender

    for alert in httpx2.get(f"{receiver.url}/api/v1/alerts").json()["alerts"]:
        print(f"receiver has: {alert['status']} {alert['annotations']['summary']}")
    print(f"delivered {sender.delivered}, given up {sender.failed}")
