from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agentguard import Bus
from agentguard.events import Event
from agentguard.metricmap import METRICS
from agentguard_prometheus import PrometheusSubscriber, start_http_server
from support.system import require_binary

ROOT = Path(__file__).resolve().parents[2]


def full_registry(every_kind: tuple[Event, ...]) -> CollectorRegistry:
    registry, bus = CollectorRegistry(), Bus()
    PrometheusSubscriber(registry).attach(bus)
    for event in every_kind:
        bus.publish(event)
    return registry


def test_exposition_of_every_metric_parses(every_kind: tuple[Event, ...]) -> None:
    text = generate_latest(full_registry(every_kind)).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {m.base_name for m in METRICS} - {
        "agentguard_subscriber_errors",
        "agentguard_events_dropped",
    } <= names


def test_exposition_passes_promtool(every_kind: tuple[Event, ...]) -> None:
    promtool = require_binary("promtool", "prometheus")
    text = generate_latest(full_registry(every_kind))
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_server_text_and_openmetrics_on_port_zero(every_kind: tuple[Event, ...]) -> None:
    with start_http_server(0, registry=full_registry(every_kind)) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        status, headers, body = get(server.url)
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        assert "agentguard_llm_calls_total{" in body
        status, headers, body = get(
            server.url, {"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        assert body.endswith("# EOF\n")
        assert "# UNIT agentguard_llm_call_duration_seconds seconds" in body
        assert get(server.url.replace("/metrics", "/nope"))[0] == 404


def test_server_basic_auth_and_bearer() -> None:
    registry = CollectorRegistry()
    with start_http_server(
        0, registry=registry, basic_auth=("scraper", "s3cret"), bearer_token="tok"
    ) as server:
        status, headers, _ = get(server.url)
        assert status == 401
        assert "Basic" in headers["WWW-Authenticate"]
        good = b64encode(b"scraper:s3cret").decode()
        bad = b64encode(b"scraper:wrong").decode()
        assert get(server.url, {"Authorization": f"Basic {good}"})[0] == 200
        assert get(server.url, {"Authorization": f"Basic {bad}"})[0] == 401
        assert get(server.url, {"Authorization": "Bearer tok"})[0] == 200
        assert get(server.url, {"Authorization": "Bearer nope"})[0] == 401
    with pytest.raises(ValueError, match="bearer_token"):
        start_http_server(0, registry=registry, bearer_token="")


def test_grafana_dashboard_uses_only_metric_map_names() -> None:
    dashboard = json.loads(
        (ROOT / "examples" / "grafana_dashboard.json").read_text(encoding="utf-8")
    )
    known = {m.name for m in METRICS} | {name for m in METRICS for name in m.sample_names}
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(expressions) >= 6
    used = {name for expr in expressions for name in re.findall(r"\bagentguard_[a-z0-9_]+", expr)}
    assert used, "the dashboard queries agentguard metrics"
    assert used <= known, f"not in agentguard.metricmap.METRICS: {sorted(used - known)}"
