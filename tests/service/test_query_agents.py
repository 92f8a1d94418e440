"""Several agents in one query (``agent=a,b``), over real HTTP: per agent and the totals.

Also the performance trends and throughput, errors per kind per step, and insights by area,
on the hand-built data set (``service.dataset``: support and billing, 01:01 to 02:01).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.live import strict_json

if TYPE_CHECKING:
    import httpx2

REL = 0.01
HOUR = {"timeframe": "1h"}


def get(http: httpx2.Client, **params: str) -> dict[str, Any]:
    response = http.get("/api/v1/metrics", params={**HOUR, **params})
    assert response.status_code == 200, response.text
    document: dict[str, Any] = strict_json(response.text)
    return document


def test_several_agents_answer_per_agent_and_their_totals(dataset_client: httpx2.Client) -> None:
    document = get(dataset_client, agent="support,billing")
    assert document["agent"] == "support,billing"
    assert document["hasData"] is True
    assert (
        document["summary"]["totalExecutions"] == 5
    )  # not the zeros of an agent "support,billing"
    assert document["summary"]["failedExecutions"] == 2
    assert document["summary"]["totalCost"] == pytest.approx(1.625)
    assert document["costs"]["breakdown"]["byModel"] == {"haiku": 0.75, "sonnet": 0.875}
    assert document["performance"]["timeSeries"][19]["executions"] == 2  # one tool call each
    parts = {p["agent"]: p for p in document["byAgent"]}
    assert list(parts) == ["support", "billing"]  # in the order asked
    assert parts["support"]["summary"]["totalExecutions"] == 3
    assert parts["billing"]["summary"]["totalExecutions"] == 2
    assert parts["billing"]["costs"]["breakdown"]["byModel"] == {"haiku": 0.75}
    assert parts["billing"]["performance"]["timeSeries"][19]["toolLatency"] == pytest.approx(1.5)
    # each part is what a query of that agent alone answers
    alone = get(dataset_client, agent="billing")
    assert {k: v for k, v in parts["billing"].items() if k != "agent"} == {
        k: v for k, v in alone.items() if k in parts["billing"] and k != "agent"
    }


def test_an_unknown_agent_is_named_and_empty_never_zeros(dataset_client: httpx2.Client) -> None:
    document = get(dataset_client, agent="support,nobody", metrics="performance,costs,insights")
    nobody = document["byAgent"][1]
    assert nobody == {
        "agent": "nobody",
        "hasData": False,
        "summary": None,
        "performance": {"timeSeries": []},
        "costs": {"timeSeries": []},
        "insights": {"findings": []},
    }
    assert document["summary"]["totalExecutions"] == 3  # support's: nobody adds nothing
    alone = get(dataset_client, agent="nobody", metrics="performance")
    assert (alone["hasData"], alone["summary"], alone["performance"]) == (
        False,
        None,
        {"timeSeries": []},
    )
    assert get(dataset_client, agent="support")["hasData"] is True


def test_several_agents_in_prometheus_text_are_labelled_each(
    dataset_client: httpx2.Client,
) -> None:
    response = dataset_client.get(
        "/api/v1/metrics",
        params={**HOUR, "agent": "support,billing,nobody", "format": "prometheus"},
    )
    assert response.status_code == 200, response.text
    costs = {
        s.labels["agent"]: s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == "agentguard_window_cost_usd"
    }
    assert costs == {"support": pytest.approx(0.875), "billing": pytest.approx(0.75)}


@pytest.mark.parametrize(
    ("agent", "value"),
    [
        ("support,support", "support,support"),
        ("support,", "support,"),
        (",".join(f"a{i}" for i in range(21)), ",".join(f"a{i}" for i in range(21))),
    ],
)
def test_bad_agent_lists_answer_400(dataset_client: httpx2.Client, agent: str, value: str) -> None:
    response = dataset_client.get("/api/v1/metrics", params={"agent": agent})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "INVALID_PARAMETERS"
    assert body["details"]["parameter"] == "agent"
    assert body["details"]["value"] in (value, "")


def test_performance_trends_against_the_previous_period(dataset_client: httpx2.Client) -> None:
    document = get(dataset_client, metrics="performance")
    trends = document["performance"]["trends"]
    assert trends["previousPeriod"] == {
        "start": "2026-01-01T00:01:00Z",
        "end": "2026-01-01T01:01:00Z",
    }
    p95 = trends["latencyP95"]
    assert p95["current"] == pytest.approx(document["summary"]["p95Latency"])
    assert p95["previous"] == pytest.approx(1.0, rel=REL)  # the one call at 00:30
    assert p95["changePercent"] == pytest.approx(100.0 * (p95["current"] - p95["previous"]))
    assert trends["latencyP50"]["previous"] == pytest.approx(1.0, rel=REL)
    assert trends["errorRate"] == {
        "current": 40.0,  # 2 of 5 calls failed
        "previous": 0.0,
        "changePercent": None,  # no percentage of nothing
        "trend": "increasing",
    }
    # one agent: its own previous period (billing made no call before the window)
    billing = get(dataset_client, metrics="performance", agent="billing")["performance"]
    assert billing["trends"]["latencyP95"]["previous"] is None
    assert billing["trends"]["latencyP95"]["trend"] == "stable"


def test_throughput_per_step_over_the_window_and_its_peak(dataset_client: httpx2.Client) -> None:
    section = get(dataset_client, metrics="performance")["performance"]
    tokens = 1000 + 200 + 3000 + 2000 + 4000
    assert section["throughput"] == {
        "requestsPerSecond": pytest.approx(5 / 3600),
        "tokensPerSecond": pytest.approx(tokens / 3600),
        "peak": {
            "timestamp": "2026-01-01T01:10:00Z",  # 2 calls, as at 01:20: the first wins
            "requestsPerSecond": pytest.approx(2 / 60),
            "tokensPerSecond": pytest.approx(4200 / 60),
        },
    }
    assert section["timeSeries"][29]["tokensPerSecond"] == pytest.approx(6000 / 60)
    assert section["timeSeries"][0]["requestsPerSecond"] == 0.0
    quiet = get(dataset_client, metrics="performance", agent="nobody,support")["byAgent"][0]
    assert quiet["performance"] == {"timeSeries": []}


def test_errors_per_kind_per_step(dataset_client: httpx2.Client) -> None:
    points = get(dataset_client, metrics="errors")["errors"]["timeSeries"]
    assert points[9]["byKind"] == {"rate_limited": 1, "timeout": 0}
    assert points[19]["byKind"] == {"rate_limited": 0, "timeout": 1}
    assert {tuple(p["byKind"]) for p in points} == {("rate_limited", "timeout")}
    billing = get(dataset_client, metrics="errors", agent="billing")["errors"]["timeSeries"]
    assert billing[19]["byKind"] == {"timeout": 1}
    response = dataset_client.get("/api/v1/metrics", params={**HOUR, "format": "csv"})
    header = response.text.splitlines()[0].split(",")
    assert {"errors.byKind.rate_limited", "errors.byKind.timeout"} <= set(header)


def test_insights_by_area_with_the_potential_saving(dataset_client: httpx2.Client) -> None:
    section = get(dataset_client, metrics="insights")["insights"]
    by_area = section["byArea"]
    assert list(by_area) == ["cost", "performance", "reliability", "caching", "tools"]
    assert [f["type"] for f in by_area["cost"]["findings"]] == ["cost_trend"]
    assert [f["type"] for f in by_area["caching"]["findings"]] == ["cache_writes_unread"]
    assert [f["type"] for f in by_area["tools"]["findings"]] == ["tool_loop"]
    assert by_area["performance"] == {"findings": [], "potentialSavingsUsd": None}
    # haiku's $0.25 of 5-minute writes, never read: 0.25 of their 1.25x price is the premium
    assert by_area["caching"]["potentialSavingsUsd"] == pytest.approx(0.25 * 0.25 / 1.25)
    assert by_area["cost"]["potentialSavingsUsd"] is None
    assert section["potentialSavingsUsd"] == pytest.approx(0.05)
    # the flat list is kept (the dashboard reads it), each finding naming its area
    assert sorted(f["type"] for f in section["findings"]) == [
        "cache_writes_unread",
        "cost_trend",
        "tool_loop",
    ]
    assert {f["area"] for f in section["findings"]} == {"cost", "caching", "tools"}
