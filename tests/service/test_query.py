"""The query engine against the hand-built data set: JSON, CSV and Prometheus, value by value."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentguard.events import AlertState, AlertStateChanged
from agentguard.testing import FakeClock
from agentguard_metrics import MemoryStore
from agentguard_service import QueryEngine, QueryParams, parse_query
from service import dataset

REL = 0.01  # sketch quantiles are within 0.5 %
WINDOW_LATENCIES = (1.0, 3.0, 0.5, 1.5, 0.25)  # every call of the hour from 01:01


def p(percent: float, *values: float) -> float:
    """The reference quantile: numpy's default, linear interpolation."""
    return float(numpy.percentile(values, percent))


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return dataset.build(clock)


@pytest.fixture
def engine(store: MemoryStore, clock: FakeClock) -> QueryEngine:
    return QueryEngine(store, clock=clock.time, budget_usd_per_month=10.0)


def hour(engine: QueryEngine, **params: str) -> dict[str, Any]:
    return engine.query(parse_query([("timeframe", "1h"), *params.items()]))


def test_the_snapshot_is_all_time_and_the_state_now(engine: QueryEngine, clock: FakeClock) -> None:
    clock.advance(12.5)
    snapshot = engine.snapshot()
    assert snapshot["uptime_seconds"] == 12.5
    assert snapshot["total_executions"] == 6  # the 00:30 call counts: all-time
    assert snapshot["active_executions"] == 1  # billing's run is still going
    assert snapshot["error_count"] == 2
    assert snapshot["endpoints"] == {
        "llm:haiku": {"requests_total": 1, "avg_duration_ms": 250.0, "p95_duration_ms": 250.0},
        "llm:sonnet": {
            "requests_total": 3,
            "avg_duration_ms": pytest.approx(5000.0 / 3),
            "p95_duration_ms": pytest.approx(p(95, 1000.0, 1000.0, 3000.0), rel=REL),
        },
        "tool:search": {
            "requests_total": 2,
            "avg_duration_ms": 1000.0,
            "p95_duration_ms": pytest.approx(p(95, 500.0, 1500.0), rel=REL),
        },
    }
    assert snapshot["cost_usd_total"] == pytest.approx(0.5 + 0.875 + 0.75)
    assert (snapshot["unpriced_calls"], snapshot["cost_incomplete_calls"]) == (1, 0)
    assert snapshot["tokens_total"] == {
        "input": 3000,
        "output": 200,
        "cache_read": 3000,
        "cache_write_5m": 4000,
        "cache_write_1h": 0,
    }
    assert snapshot["cache_hit_ratio"] == pytest.approx(3000 / 10000)
    assert snapshot["breakers"] == {"anthropic": "open"}
    assert snapshot["loop_detections"] == 1
    assert snapshot["alerts"] == {}  # no rule ever fired
    assert snapshot["agents"] == ["billing", "support"]
    assert json.loads(json.dumps(snapshot)) == snapshot


def test_the_window_is_whole_steps_ending_with_now(engine: QueryEngine) -> None:
    document = hour(engine)
    assert document["timeframe"] == "1h"
    assert document["granularity"] == "1m"  # the default for 1h
    assert document["generatedAt"] == "2026-01-01T02:00:30Z"
    assert document["window"] == {"start": "2026-01-01T01:01:00Z", "end": "2026-01-01T02:01:00Z"}
    points = document["performance"]["timeSeries"]
    assert len(points) == 60
    assert points[0]["timestamp"] == "2026-01-01T01:01:00Z"
    assert points[-1]["timestamp"] == "2026-01-01T02:00:00Z"
    assert {len(document[g]["timeSeries"]) for g in ("usage", "costs", "errors", "cache")} == {60}


def test_the_summary_covers_the_window_only(engine: QueryEngine) -> None:
    assert hour(engine)["summary"] == {
        "totalExecutions": 5,
        "successfulExecutions": 3,
        "failedExecutions": 2,
        "successRate": 60.0,
        "totalCost": pytest.approx(1.625),
        "averageLatency": pytest.approx(6.25 / 5),
        "p95Latency": pytest.approx(p(95, *WINDOW_LATENCIES), rel=REL),
        "p99Latency": pytest.approx(p(99, *WINDOW_LATENCIES), rel=REL),
    }


def test_performance_points_and_endpoints(engine: QueryEngine) -> None:
    section = hour(engine, aggregation="max")["performance"]
    points = section["timeSeries"]
    assert points[9] == {
        "timestamp": "2026-01-01T01:10:00Z",
        "executions": 2,
        "failed": 1,
        "latency": pytest.approx(3.0),
        "llmLatency": pytest.approx(3.0),
        "toolLatency": None,
        "requestsPerSecond": pytest.approx(2 / 60),
        "tokensPerSecond": pytest.approx(4200 / 60),
    }
    assert points[19]["executions"] == 2
    assert points[19]["toolLatency"] == pytest.approx(1.5)
    assert points[29]["latency"] == pytest.approx(0.25)
    empty = points[0]
    assert (empty["executions"], empty["failed"], empty["latency"]) == (0, 0, None)
    assert section["endpoints"] == [
        {
            "endpoint": "llm:haiku",
            "requests": 1,
            "errors": 0,
            "averageLatency": 0.25,
            "p95Latency": 0.25,
            "p99Latency": 0.25,
        },
        {
            "endpoint": "llm:sonnet",
            "requests": 2,
            "errors": 1,
            "averageLatency": 2.0,
            "p95Latency": pytest.approx(p(95, 1.0, 3.0), rel=REL),
            "p99Latency": pytest.approx(p(99, 1.0, 3.0), rel=REL),
        },
        {
            "endpoint": "tool:search",
            "requests": 2,
            "errors": 1,
            "averageLatency": 1.0,
            "p95Latency": pytest.approx(p(95, 0.5, 1.5), rel=REL),
            "p99Latency": pytest.approx(p(99, 0.5, 1.5), rel=REL),
        },
    ]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("avg", 2.0),
        ("sum", 4.0),
        ("min", 1.0),
        ("max", 3.0),
        # Linear interpolation (numpy's default) between the step's 1.0 s and 3.0 s.
        ("p50", 2.0),
        ("p95", 2.9),
        ("p99", 2.98),
    ],
)
def test_the_aggregation_makes_each_latency_point(
    engine: QueryEngine, aggregation: str, expected: float
) -> None:
    point = hour(engine, aggregation=aggregation)["performance"]["timeSeries"][9]
    assert point["llmLatency"] == pytest.approx(expected, rel=REL)
    # counts are the step's increase whatever the aggregation
    assert point["executions"] == 2


def test_usage_and_costs(engine: QueryEngine) -> None:
    document = hour(engine)
    usage = document["usage"]
    assert usage["totals"] == {
        "llmCalls": 3,
        "toolCalls": 2,
        "runs": 1,
        "inputTokens": 3000,
        "outputTokens": 200,
        "cacheReadTokens": 3000,
        "cacheWrite5mTokens": 4000,
        "cacheWrite1hTokens": 0,
    }
    assert usage["timeSeries"][9]["llmCalls"] == 2
    assert usage["timeSeries"][43]["runs"] == 0
    assert usage["timeSeries"][44]["runs"] == 1
    costs = document["costs"]
    assert costs["total"] == pytest.approx(1.625)
    assert costs["timeSeries"][9] == {
        "timestamp": "2026-01-01T01:10:00Z",
        "cost": 0.875,
        "input": 0.25,
        "output": 0.5,
        "cacheRead": 0.125,
        "cacheWrite5m": 0.0,
        "cacheWrite1h": 0.0,
    }
    assert costs["breakdown"] == {
        "byTokenType": {
            "input": 0.75,
            "output": 0.5,
            "cache_read": 0.125,
            "cache_write_5m": 0.25,
            "cache_write_1h": 0.0,
        },
        "byModel": {"haiku": 0.75, "sonnet": 0.875},
    }
    trends = costs["trends"]
    assert trends["previousPeriodTotal"] == pytest.approx(0.5)
    assert trends["changePercent"] == pytest.approx(225.0)
    assert trends["trend"] == "increasing"
    # Over the time the data covers, from 01:10 (its first minute with spending) to now
    # (02:00:30), not over the hour asked for.
    covered_s = dataset.NOW - (dataset.T0 + 3600 + 600)
    assert trends["burnRatePerDay"] == pytest.approx(1.625 / covered_s * 86400)
    assert trends["monthToDate"] == pytest.approx(2.125)
    month_left_days = 31 - (2 * 3600 + 30) / 86400
    assert trends["projectedMonthly"] == pytest.approx(
        2.125 + 1.625 / covered_s * 86400 * month_left_days
    )
    budget = costs["budget"]
    assert budget["budget"] == 10.0
    assert budget["spent"] == pytest.approx(2.125)
    assert budget["remaining"] == pytest.approx(7.875)
    assert budget["projected"] == trends["projectedMonthly"]
    assert budget["onTrack"] is False
    assert budget["burnRate"] == trends["burnRatePerDay"]


def test_tokens_and_costs_per_model_over_time(engine: QueryEngine) -> None:
    document = hour(engine)
    costs = document["costs"]["models"]
    assert [(m["model"], m["total"]) for m in costs] == [("sonnet", 0.875), ("haiku", 0.75)]
    assert costs[0]["values"][8:11] == [0.0, 0.875, 0.0]  # one amount per step of timeSeries
    assert costs[1]["values"][29] == 0.75
    assert sum(costs[1]["values"]) == 0.75
    tokens = document["usage"]["models"]
    assert [(m["model"], m["total"]) for m in tokens] == [("haiku", 6000), ("sonnet", 4200)]
    assert tokens[1]["values"][9] == 4200
    assert all(len(m["values"]) == 60 for m in tokens)
    assert [m["model"] for m in hour(engine, agent="billing")["costs"]["models"]] == ["haiku"]


def test_models_past_the_cap_add_up_as_other(store: MemoryStore, clock: FakeClock) -> None:
    extra = [
        dataset.llm(dataset.at(1, 50), model=f"m{i}", costs=(float(i), 0.0, 0.0, 0.0, 0.0))
        for i in range(1, 9)
    ]
    dataset.feed(store, clock, extra, process_id="more")
    costs = hour(QueryEngine(store, clock=clock.time))["costs"]
    shown = costs["models"]
    assert [m["model"] for m in shown] == ["m8", "m7", "m6", "m5", "m4", "m3", "other"]
    other = shown[-1]
    assert other["total"] == pytest.approx(2 + 1 + 0.875 + 0.75)  # m2, m1, sonnet, haiku
    assert other["values"][49] == pytest.approx(3.0)  # m2 and m1
    assert sum(other["values"]) == pytest.approx(other["total"])


def test_models_the_store_folded_are_one_other_with_the_rest(clock: FakeClock) -> None:
    clock.advance(dataset.NOW - clock.time())
    store = MemoryStore(clock=clock.time, max_label_values=3)  # sonnet, haiku, w0-m0 kept
    dataset.feed(store, clock, dataset.events())
    for worker in range(3):  # each worker's own models: the store folds them
        calls = [
            dataset.llm(dataset.at(1, 50), model=f"w{worker}-m{i}", costs=(1.0, 0, 0, 0, 0))
            for i in range(3)
        ]
        dataset.feed(store, clock, calls, process_id=f"worker-{worker}")
    shown = hour(QueryEngine(store, clock=clock.time))["costs"]["models"]
    assert [m["model"] for m in shown] == ["w0-m0", "sonnet", "haiku", "other"]
    assert shown[-1]["total"] == pytest.approx(8.0)  # the 8 models folded, one entry
    assert sum(m["total"] for m in shown) == pytest.approx(9.0 + 0.875 + 0.75)


def alert(rule: str, state: AlertState, when: float) -> AlertStateChanged:
    return AlertStateChanged(rule=rule, state=state, value=1.0, agent=None, at_unix_s=when)


def test_alerts_changes_per_step_and_rule_and_what_fires_now(
    store: MemoryStore, clock: FakeClock
) -> None:
    dataset.feed(
        store,
        clock,
        [
            alert("error_rate", "firing", dataset.at(0, 45)),  # before the window
            alert("error_rate", "resolved", dataset.at(1, 15)),
            alert("error_rate", "firing", dataset.at(1, 40)),
            alert("error_rate", "resolved", dataset.at(1, 55, 10)),
            alert("cost_spike", "firing", dataset.at(1, 50)),
        ],
        process_id="alerts",
    )
    engine = QueryEngine(store, clock=clock.time)
    snapshot = engine.snapshot()
    assert snapshot["alerts"] == {
        "cost_spike": {"fired": 1, "resolved": 0, "firing_now": 1},
        "error_rate": {"fired": 2, "resolved": 2, "firing_now": 0},
    }
    section = hour(engine, metrics="alerts")["alerts"]
    assert section["timeSeries"][39] == {
        "timestamp": "2026-01-01T01:40:00Z",
        "firing": 1,
        "resolved": 0,
    }
    assert sum(p["resolved"] for p in section["timeSeries"]) == 2
    assert section["byRule"] == [
        {"rule": "cost_spike", "fired": 1, "resolved": 0, "firingNow": 1},
        {"rule": "error_rate", "fired": 1, "resolved": 2, "firingNow": 0},
    ]
    assert [(a["timestamp"][11:16], a["rule"], a["state"]) for a in section["recent"]] == [
        ("01:55", "error_rate", "resolved"),
        ("01:50", "cost_spike", "firing"),
        ("01:40", "error_rate", "firing"),
        ("01:15", "error_rate", "resolved"),
    ]
    # The service evaluates rules over every agent: narrowing to one hides no alert.
    assert hour(engine, metrics="alerts", agent="support")["alerts"] == section
    text, _ = engine.render(
        parse_query([("timeframe", "1h"), ("metrics", "alerts"), ("format", "prometheus")])
    )
    firing = ("agentguard_window_alerts", (("rule", "cost_spike"), ("timeframe", "1h")))
    assert _samples(text)[(firing[0], (*firing[1], ("what", "firingNow")))] == 1.0


def test_no_budget_no_budget_section(store: MemoryStore, clock: FakeClock) -> None:
    document: dict[str, Any] = QueryEngine(store, clock=clock.time).query(
        QueryParams(timeframe="1h", granularity="1m")
    )
    assert "budget" not in document["costs"]


def test_errors_cache_tools_breakers(engine: QueryEngine) -> None:
    document = hour(engine)
    errors = document["errors"]
    assert errors["timeSeries"][9] == {
        "timestamp": "2026-01-01T01:10:00Z",
        "errors": 1,
        "llm": 1,
        "tool": 0,
        "other": 0,
        "errorRate": 50.0,
        "byKind": {"rate_limited": 1, "timeout": 0},
    }
    assert errors["timeSeries"][19]["byKind"] == {"rate_limited": 0, "timeout": 1}
    assert errors["timeSeries"][0]["errorRate"] is None  # no executions: no rate
    assert errors["breakdown"] == {
        "bySource": {"llm": 1, "tool": 1, "other": 0},
        "byKind": {"rate_limited": 1, "timeout": 1},
    }
    cache = document["cache"]
    assert cache["totals"] == {
        "hitRatio": pytest.approx(3000 / 10000),
        "readTokens": 3000,
        "writeTokens": 4000,
        "uncachedTokens": 3000,
        "savedUsd": 0.0,
    }
    assert cache["timeSeries"][29]["hitRatio"] == 0.0
    assert cache["timeSeries"][0]["hitRatio"] is None
    tools = document["tools"]
    assert tools["timeSeries"][19] == {
        "timestamp": "2026-01-01T01:20:00Z",
        "calls": 2,
        "errors": 1,
        "latency": pytest.approx(1.0),
        "loopDetections": 0,
    }
    assert tools["timeSeries"][39]["loopDetections"] == 1
    assert tools["byTool"] == [
        {
            "tool": "search",
            "calls": 2,
            "errors": 1,
            "averageLatency": 1.0,
            "p95Latency": pytest.approx(p(95, 0.5, 1.5), rel=REL),
            "p99Latency": pytest.approx(p(99, 0.5, 1.5), rel=REL),
            "loopDetections": 1,
        }
    ]
    breakers = document["breakers"]
    assert breakers["current"] == {"anthropic": "open"}
    assert breakers["timeSeries"][39] == {
        "timestamp": "2026-01-01T01:40:00Z",
        "opened": 1,
        "halfOpened": 0,
        "closed": 0,
        "rejections": 1,
    }
    assert breakers["byBreaker"] == [
        {
            "breaker": "anthropic",
            "state": "open",
            "opened": 1,
            "halfOpened": 0,
            "closed": 0,
            "rejections": 1,
        }
    ]


def test_an_agent_narrows_every_figure(engine: QueryEngine) -> None:
    document = hour(engine, agent="support")
    assert document["agent"] == "support"
    assert document["summary"]["totalExecutions"] == 3
    assert document["summary"]["failedExecutions"] == 1
    assert document["summary"]["totalCost"] == pytest.approx(0.875)
    assert [e["endpoint"] for e in document["performance"]["endpoints"]] == [
        "llm:sonnet",
        "tool:search",
    ]
    assert document["performance"]["endpoints"][1]["averageLatency"] == 0.5
    assert document["costs"]["breakdown"]["byModel"] == {"sonnet": 0.875}
    assert document["costs"]["trends"]["previousPeriodTotal"] == pytest.approx(0.5)
    assert document["usage"]["totals"]["cacheWrite5mTokens"] == 0
    assert document["breakers"]["current"] == {"anthropic": "open"}  # a breaker has no agent
    assert document["hasData"] is True


def test_only_the_groups_asked_for(engine: QueryEngine) -> None:
    document = hour(engine, metrics="costs,performance")
    assert {"performance", "costs", "summary"} <= set(document)
    assert not {"usage", "errors", "cache", "tools", "breakers", "alerts", "insights"} & set(
        document
    )


def test_coarser_granularities_add_steps_up(engine: QueryEngine) -> None:
    document: dict[str, Any] = engine.query(
        parse_query([("timeframe", "6h"), ("granularity", "1h")])
    )
    points = document["costs"]["timeSeries"]
    assert [p["timestamp"] for p in points] == [
        f"2025-12-31T{h:02}:00:00Z" for h in (21, 22, 23)
    ] + [f"2026-01-01T{h:02}:00:00Z" for h in (0, 1, 2)]
    assert [p["cost"] for p in points] == pytest.approx([0, 0, 0, 0.5, 1.625, 0])


def test_csv_has_a_row_per_step_with_the_json_numbers(engine: QueryEngine) -> None:
    params = parse_query([("timeframe", "1h"), ("format", "csv")])
    text, media_type = engine.render(params)
    assert media_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    document: dict[str, Any] = engine.query(params)
    assert len(rows) == 60
    assert rows[9]["timestamp"] == "2026-01-01T01:10:00Z"
    groups = ("performance", "usage", "costs", "errors", "cache", "tools", "breakers", "alerts")
    for group in groups:
        for i, point in enumerate(document[group]["timeSeries"]):
            for field, value in point.items():
                if field == "timestamp":
                    continue
                cells = {f"{group}.{field}": value}
                if isinstance(value, dict):  # errors.byKind: a column per kind
                    cells = {f"{group}.{field}.{k}": v for k, v in value.items()}
                for column, v in cells.items():
                    assert rows[i][column] == ("" if v is None else str(v)), (column, i)
    assert float(rows[9]["costs.cost"]) == 0.875
    assert rows[0]["performance.latency"] == ""


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_prometheus_format_has_the_window_figures(engine: QueryEngine) -> None:
    text, media_type = engine.render(parse_query([("timeframe", "1h"), ("format", "prometheus")]))
    assert media_type.startswith("text/plain; version=0.0.4")
    samples = _samples(text)
    tf = ("timeframe", "1h")

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({**labels, "timeframe": "1h"}.items())))]

    assert value("agentguard_window_executions", status="ok") == 3
    assert value("agentguard_window_executions", status="error") == 2
    assert value("agentguard_window_cost_usd") == pytest.approx(1.625)
    assert value("agentguard_window_latency_seconds", stat="average") == pytest.approx(1.25)
    assert value("agentguard_window_endpoint_requests", endpoint="llm:sonnet") == 2
    assert value("agentguard_window_endpoint_errors", endpoint="tool:search") == 1
    assert value("agentguard_window_usage", what="cacheReadTokens") == 3000
    assert value("agentguard_window_cost_by_model_usd", model="haiku") == 0.75
    assert value("agentguard_window_cost_by_token_type_usd", token_type="output") == 0.5
    assert value("agentguard_window_cost_trend", what="changePercent") == pytest.approx(225.0)
    assert value("agentguard_budget", what="remaining") == pytest.approx(7.875)
    assert value("agentguard_window_errors", source="llm") == 1
    assert value("agentguard_window_errors_by_kind", kind="timeout") == 1
    assert value("agentguard_window_cache", what="hitRatio") == pytest.approx(0.3)
    assert value("agentguard_window_tool", tool="search", what="loopDetections") == 1
    assert value("agentguard_breaker_state", breaker="anthropic") == 2
    assert value("agentguard_window_breaker", breaker="anthropic", what="rejections") == 1
    assert all(tf in labels for (_, labels) in samples)


def test_prometheus_format_labels_the_agent(engine: QueryEngine) -> None:
    text, _ = engine.render(
        parse_query([("timeframe", "1h"), ("format", "prometheus"), ("agent", "billing")])
    )
    samples = _samples(text)
    key = ("agentguard_window_cost_usd", (("agent", "billing"), ("timeframe", "1h")))
    assert samples[key] == pytest.approx(0.75)


def test_json_render_is_the_document(engine: QueryEngine) -> None:
    params = parse_query([("timeframe", "1h")])
    text, media_type = engine.render(params)
    assert media_type == "application/json"
    assert json.loads(text)["summary"]["totalExecutions"] == 5


def test_misuse_fails_fast() -> None:
    with pytest.raises(TypeError, match="Store"):
        QueryEngine(object())  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="budget_usd_per_month"):
        QueryEngine(MemoryStore(), budget_usd_per_month=0.0)
