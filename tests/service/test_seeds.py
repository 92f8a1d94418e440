"""The seeds' own client code, run unchanged (but for the base URL) against a live service.

HopX (seed 000) reads ``/api/v1/snapshot`` as its ``get_agent_metrics()``: top-level maps
keyed by endpoint. TensorOne (seed 003): its example requests (headers, query strings and
batch body as written), but for the one naming GPU ``resources``. The service is real
(uvicorn via MetricsService), fed by real events through an Aggregator (``service.dataset``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agentguard.testing import FakeClock
from agentguard_service import MetricsService, create_app
from service import dataset

README = Path(__file__).parents[2] / "packages" / "service" / "README.md"


@pytest.fixture
def base_url(clock: FakeClock) -> Iterator[str]:
    service = MetricsService(create_app(dataset.build(clock), rate_limit_per_s=None))
    try:
        yield service.url
    finally:
        service.close()


def get_agent_metrics(base_url: str) -> dict[str, Any]:
    """What the seed's ``sandbox.get_agent_metrics()`` returns: the snapshot's JSON."""
    response = httpx2.get(base_url + "/api/v1/snapshot", timeout=10.0)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_hopx_snippet_runs_unchanged(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    agent_metrics = get_agent_metrics(base_url)
    # --- the seed's snippet, as written ---
    # fmt: off
    print(f"Agent Uptime: {agent_metrics['uptime_seconds']} seconds")
    print(f"Total Executions: {agent_metrics['total_executions']}")
    print(f"Active Executions: {agent_metrics['active_executions']}")
    print(f"Error Count: {agent_metrics['error_count']}")

    # Per-endpoint metrics
    if 'requests_total' in agent_metrics:
        print("\nRequests by Endpoint:")
        for endpoint, count in agent_metrics['requests_total'].items():
            print(f"  {endpoint}: {count}")

    if 'avg_duration_ms' in agent_metrics:
        print("\nAverage Duration by Endpoint:")
        for endpoint, duration in agent_metrics['avg_duration_ms'].items():
            print(f"  {endpoint}: {duration:.2f} ms")

    if 'p95_duration_ms' in agent_metrics:
        print("\nP95 Duration by Endpoint:")
        for endpoint, duration in agent_metrics['p95_duration_ms'].items():
            print(f"  {endpoint}: {duration:.2f} ms")

    # Find slowest endpoint (the seed's "Performance Analysis")
    if 'avg_duration_ms' in agent_metrics and agent_metrics['avg_duration_ms']:  # noqa: RUF019
        slowest = max(agent_metrics['avg_duration_ms'].items(), key=lambda x: x[1])
        print(f"Slowest Endpoint: {slowest[0]} ({slowest[1]:.2f} ms)")
    # fmt: on
    # --- end of the seed's snippet ---
    out = capsys.readouterr().out
    assert "Total Executions: 6\n" in out
    assert "Requests by Endpoint:\n  llm:haiku: 1\n  llm:sonnet: 3\n  tool:search: 2\n" in out
    assert "  llm:sonnet: 1666.67 ms\n" in out  # (0.5 h earlier 1.0 s + 1.0 s + 3.0 s) / 3
    assert "Slowest Endpoint: llm:sonnet (1666.67 ms)" in out


def test_the_maps_agree_with_the_endpoints(base_url: str) -> None:
    snapshot = get_agent_metrics(base_url)
    for field in ("requests_total", "avg_duration_ms", "p95_duration_ms"):
        assert snapshot[field] == {
            name: figures[field] for name, figures in snapshot["endpoints"].items()
        }


def test_the_readme_example_names_every_snapshot_field(base_url: str) -> None:
    section = README.read_text(encoding="utf-8").split("## The snapshot", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None
    documented = json.loads(block.group(1))
    assert list(documented) == list(get_agent_metrics(base_url))


# --- TensorOne (seed 003): its example requests, the base URL (and path prefix) ours ---

TENSORONE_HEADERS = {"Authorization": "Bearer YOUR_API_KEY", "Content-Type": "application/json"}


@pytest.fixture
def tensorone(clock: FakeClock) -> Iterator[httpx2.Client]:
    """A client on a service whose token is the seed's placeholder, ``YOUR_API_KEY``."""
    app = create_app(
        dataset.build(clock), token="YOUR_API_KEY", rate_limit_per_s=None, clock=clock.time
    )
    with MetricsService(app) as service, httpx2.Client(base_url=service.url) as http:
        yield http


def test_tensorone_basic_performance_metrics(tensorone: httpx2.Client) -> None:
    response = tensorone.get("/api/v1/metrics", headers=TENSORONE_HEADERS)
    assert response.status_code == 200, response.text
    document = response.json()
    assert (document["timeframe"], document["granularity"]) == ("24h", "15m")  # the seed's too
    summary = document["summary"]
    assert (summary["totalExecutions"], summary["successfulExecutions"]) == (6, 4)
    assert summary["successRate"] == pytest.approx(400 / 6)
    for field in ("averageLatency", "p95Latency", "p99Latency", "totalCost"):
        assert isinstance(summary[field], float)
    throughput = document["performance"]["throughput"]
    assert throughput["peak"]["requestsPerSecond"] == pytest.approx(2 / 900)


def test_tensorone_cost_analysis(tensorone: httpx2.Client) -> None:
    response = tensorone.get(
        "/api/v1/metrics?timeframe=30d&metrics=costs&format=json", headers=TENSORONE_HEADERS
    )
    assert response.status_code == 200, response.text
    costs = response.json()["costs"]
    assert costs["total"] == pytest.approx(2.125)
    assert costs["trends"]["trend"] in ("increasing", "decreasing", "stable")


def test_tensorone_prometheus_format(tensorone: httpx2.Client) -> None:
    headers = {"Authorization": "Bearer YOUR_API_KEY", "Accept": "text/plain"}
    response = tensorone.get("/api/v1/metrics?format=prometheus", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert 'agentguard_window_executions{status="ok",timeframe="24h"} 4.0' in response.text


def test_tensorone_batch_metrics_for_multiple_endpoints(tensorone: httpx2.Client) -> None:
    body = {
        "endpointIds": ["ep_1234567890abcdef", "ep_2345678901bcdefg", "ep_3456789012cdefgh"],
        "timeframe": "24h",
        "metrics": ["performance", "costs"],
        "aggregation": "avg",
    }
    response = tensorone.post("/api/v1/metrics/batch", headers=TENSORONE_HEADERS, json=body)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    # Their endpoints are not ours: each is named, and says it has no data (never zeros).
    assert [(i["id"], i["hasData"], i["summary"]) for i in items] == [
        (name, False, None) for name in body["endpointIds"]
    ]
    ours = {**body, "endpointIds": ["llm:sonnet", "tool:search", "billing"]}
    response = tensorone.post("/api/v1/metrics/batch", headers=TENSORONE_HEADERS, json=ours)
    assert [i["summary"]["totalExecutions"] for i in response.json()["items"]] == [3, 2, 2]


def test_tensorone_resources_group_is_a_clear_400(tensorone: httpx2.Client) -> None:
    """GPU and CPU figures have no counterpart for agents: the seed's detailed request names
    ``resources``, answered 400 naming it (the other three groups it asks for are ours)."""
    response = tensorone.get(
        "/api/v1/metrics?timeframe=7d&granularity=1h&metrics=performance,usage,costs,resources",
        headers=TENSORONE_HEADERS,
    )
    assert response.status_code == 400
    assert response.json()["details"]["value"] == "resources"
