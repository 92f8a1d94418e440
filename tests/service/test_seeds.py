"""The seeds' own client code, run unchanged (but for the base URL) against a live service.

HopX (seed 000) reads ``/api/v1/snapshot`` as its ``get_agent_metrics()``: top-level maps
keyed by endpoint. The service is real (uvicorn via MetricsService), fed by real events
through an Aggregator (``service.dataset``).
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
