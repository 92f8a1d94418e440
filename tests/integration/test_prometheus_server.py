"""A real Prometheus server scrapes the in-process /metrics and answers a PromQL query."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard_prometheus import PrometheusSubscriber, start_http_server
from support.ports import free_port
from support.system import require_binary
from support.waiting import wait_until

pytestmark = pytest.mark.slow


def query(port: int, promql: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=2) as response:
        body = json.loads(response.read())
    assert body["status"] == "success"
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_the_agent(tmp_path: Path) -> None:
    prometheus = require_binary("prometheus", "prometheus")
    registry, bus = CollectorRegistry(), Bus()
    PrometheusSubscriber(registry).attach(bus)
    for _ in range(3):
        bus.publish(LLMCallFinished(model="claude-sonnet-4-5", duration_s=0.5, cost_usd=0.01))
    with start_http_server(0, registry=registry) as metrics:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n  - job_name: agent\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{metrics.port}']\n",
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def scraped() -> list[dict[str, object]]:
                try:
                    return query(port, 'agentguard_llm_calls_total{status="ok"}')
                except (urllib.error.URLError, ConnectionError):
                    return []

            first_scrape = "Prometheus's first scrape of the agent"
            result = wait_until(scraped, 20, first_scrape, interval_s=0.25)
            assert result[0]["value"][1] == "3"  # type: ignore[index]
            assert result[0]["metric"]["model"] == "claude-sonnet-4-5"  # type: ignore[index]
        finally:
            process.terminate()
            process.wait(timeout=10)
