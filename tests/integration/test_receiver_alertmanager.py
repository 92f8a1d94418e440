"""A real Alertmanager posts its own webhook, with a bearer token, to the receiver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx2

from agentguard_receiver import Receiver, create_app
from support.ports import free_port
from support.system import require_binary
from support.waiting import wait_until

TOKEN = "alertmanager-bearer-token"
SECRET = "whsec_dGhlIGFsZXJ0bWFuYWdlciB0ZXN0IHNlY3JldA=="

CONFIG = """
route:
  receiver: agentguard
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: agentguard
    webhook_configs:
      - url: {url}/webhooks/alerts
        send_resolved: true
        http_config:
          authorization:
            credentials: {token}
"""


def test_alertmanager_delivers_an_alert_to_the_receiver(tmp_path: Path) -> None:
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    receiver = Receiver(create_app(secrets=[SECRET], token=TOKEN, db_path=tmp_path / "alerts.db"))
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=receiver.url, token=TOKEN))
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    api = f"http://127.0.0.1:{port}/api/v2"
    try:
        wait_until(lambda: _ready(api), 20, "Alertmanager to answer", interval_s=0.2)
        alert = {
            "labels": {
                "alertname": "AgentLoopDetected",
                "agent": "researcher",
                "severity": "critical",
            },
            "annotations": {"summary": "the researcher agent repeats search()"},
        }
        assert httpx2.post(f"{api}/alerts", json=[alert], timeout=5).status_code == 200

        def listed() -> bool:
            alerts = httpx2.get(f"{receiver.url}/api/v1/alerts", timeout=5).json()["alerts"]
            return any(a["labels"].get("alertname") == "AgentLoopDetected" for a in alerts)

        wait_until(listed, 20, "the alert to reach the receiver", interval_s=0.2)
        (stored,) = httpx2.get(f"{receiver.url}/api/v1/alerts?status=firing", timeout=5).json()[
            "alerts"
        ]
        assert stored["labels"]["agent"] == "researcher"
        assert stored["annotations"]["summary"] == "the researcher agent repeats search()"
        assert stored["webhookId"] is None
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        receiver.close()
    assert TOKEN.encode() not in stderr


def _ready(api: str) -> bool:
    try:
        return httpx2.get(f"{api}/status", timeout=1).status_code == 200
    except httpx2.TransportError:
        return False
