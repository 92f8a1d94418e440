"""Alerts into ``agentguard receive``: the receiver command, a rules file, a signed webhook.

Run it from the repository root: ``.venv/bin/python examples/alerts_receive.py``.

What a user runs, in one script:

1. ``agentguard receive --secret whsec_... --port P --db alerts.db --log-alerts``: the alert
   receiver, started as the real command (``python -m agentguard_cli`` is the same command)
   with a fresh secret, a free port and a SQLite file in a temporary directory.
2. A rules file like ``examples/alert_rules.toml``: the built-in ``budget_exceeded`` rule and
   a ``[[webhook]]`` pointing at the receiver, its secret read from
   ``AGENTGUARD_WEBHOOK_SECRETS`` (``agentguard serve --rules FILE`` reads the same file).
3. An agent on the real anthropic SDK (against the project's fake Messages API) whose run has
   a $0.01 budget: the second call crosses it (``BudgetExceeded``), the third is refused.
4. The rules evaluated once over this process's events (an ``Aggregator`` into a
   ``MemoryStore``): the alert fires and its Standard-Webhooks-signed Alertmanager-v4 body
   is posted to the receiver.
5. What the receiver holds (``GET /api/v1/alerts``), how it answers a delivery signed with
   the wrong secret (401), and the line ``--log-alerts`` wrote to its log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anthropic
import httpx2

from agentguard_alerts import alertmanager_body, load
from agentguard_fake import FakeAnthropicServer, Reply
from agentguard_metrics import Aggregator, MemoryStore
from agentguard_trace import BudgetExceededError, instrument, traced

RULES = """
[[builtin]]
rule = "budget_exceeded"          # any budget crossed in the last 15 minutes, per agent

[[webhook]]
url = "http://127.0.0.1:{port}/webhooks/alerts"
secrets_env = "AGENTGUARD_WEBHOOK_SECRETS"
allow_http = true                 # loopback, for the example: real targets are https
allow_private = true
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers a sender holding ``secret`` would send with ``body``."""
    webhook_id, timestamp = f"msg_{secrets.token_hex(8)}", str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
    }


def main() -> None:
    secret = new_secret()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="agentguard-example-") as workdir:
        # 1. agentguard receive (its log, uvicorn's and --log-alerts', goes to standard error)
        command = [sys.executable, "-m", "agentguard_cli", "receive", "--secret", secret]
        command += ["--port", str(port), "--db", f"{workdir}/alerts.db", "--log-alerts"]
        receive = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)  # noqa: S603 (ours)
        try:
            run(secret, port, Path(workdir))
        finally:
            receive.terminate()  # Ctrl-C or SIGTERM stops it
            _, log = receive.communicate(timeout=10)
    for line in log.splitlines():
        if "agentguard_receiver.alerts" in line:
            print(f"receiver log: {' '.join(line.split())}")


def run(secret: str, port: int, workdir: Path) -> None:
    receiver_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx2.get(f"{receiver_url}/healthz")
            break
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                sys.exit("agentguard receive did not start")
            time.sleep(0.1)
    print(f"agentguard receive --secret whsec_... --port {port}: listening on {receiver_url}")

    # 2. the rules file, the secret from the environment as in production
    rules_file = workdir / "alert_rules.toml"
    rules_file.write_text(RULES.format(port=port), encoding="utf-8")
    os.environ["AGENTGUARD_WEBHOOK_SECRETS"] = secret
    config = load(rules_file)
    store = MemoryStore()
    aggregator = Aggregator(store)
    aggregator.attach()  # the default bus: the agent's events -> the store the rules read
    evaluator = config.evaluator(store)  # a WebhookSender per [[webhook]]; .start() runs it

    # 3. an agent whose run crosses its budget
    with FakeAnthropicServer(seed=1) as fake:
        fake.enqueue(*[Reply(text="Still checking.", input_tokens=1500, output_tokens=100)] * 3)
        client = instrument(anthropic.Anthropic(base_url=fake.url, api_key="demo"))

        @traced(agent="support", max_cost_usd=0.01, stop_on_budget=True)
        def investigate(question: str) -> None:
            while True:  # $0.006 a call: the 2nd crosses $0.01, the 3rd is refused
                client.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=128,
                    messages=[{"role": "user", "content": question}],
                )

        try:
            investigate("Why was order 1234 refunded twice?")
        except BudgetExceededError as stopped:
            print(f"the run was stopped: {stopped}")
        client.close()

    # 4. the rules, once (a started evaluator does this every [evaluation] interval)
    aggregator.flush()
    notifications = evaluator.evaluate()
    for notification in notifications:
        print(f"notified: {notification.status} {notification.group_key}")
    evaluator.close()  # delivers what is queued (bounded), then stops the sender
    aggregator.close()

    # 5. what the receiver holds, and how it answers a sender without the secret
    for alert in httpx2.get(f"{receiver_url}/api/v1/alerts").json()["alerts"]:
        name, summary = alert["labels"]["alertname"], alert["annotations"]["summary"]
        print(f"receiver has: {alert['status']} {name}: {summary}")
    body = alertmanager_body(notifications[0])
    forged = httpx2.post(
        f"{receiver_url}/webhooks/alerts", content=body, headers=signed_headers(new_secret(), body)
    )
    print(f"a delivery signed with another secret: {forged.status_code} {forged.json()['error']}")


if __name__ == "__main__":
    main()
