"""``aggregation=p50,p95,p99``: every listed statistic per point, over real HTTP.

Step 9 of ``service.dataset`` (01:10) holds two sonnet calls, 1.0 s and 3.0 s; step 19
(01:20) two search calls, 0.5 s and 1.5 s. Quantiles interpolate linearly (numpy's default):
the p50 of two calls is their mean.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from agentguard.testing import FakeClock
from agentguard_service import create_app
from agentguard_service.params import AGGREGATIONS
from service import dataset, live

if TYPE_CHECKING:
    import httpx2

REL = 0.01  # sketch quantiles are within 0.5 %


@pytest.fixture
def http(clock: FakeClock) -> Iterator[httpx2.Client]:
    app = create_app(dataset.build(clock), rate_limit_per_s=None, clock=clock.time)
    with live.client(app) as client:
        yield client


def query(http: httpx2.Client, **params: str) -> httpx2.Response:
    return http.get("/api/v1/metrics", params={"timeframe": "1h", **params})


def test_a_list_gives_every_statistic_per_point(http: httpx2.Client) -> None:
    response = query(http, metrics="performance,tools", aggregation="avg,max,p50")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    assert document["aggregation"] == "avg,max,p50"
    point = document["performance"]["timeSeries"][9]
    assert point["llmLatency"] == {
        "avg": pytest.approx(2.0),
        "max": pytest.approx(3.0, rel=REL),
        "p50": pytest.approx(2.0, rel=REL),
    }
    assert point["latency"] == point["llmLatency"]  # no tool call in that step
    assert point["toolLatency"] == {"avg": None, "max": None, "p50": None}
    assert point["executions"] == 2  # counts are not aggregated
    tools = document["tools"]["timeSeries"][19]
    assert tools["latency"] == {
        "avg": pytest.approx(1.0),
        "max": pytest.approx(1.5, rel=REL),
        "p50": pytest.approx(1.0, rel=REL),
    }


def test_each_listed_statistic_equals_its_single_query(http: httpx2.Client) -> None:
    listed = query(http, metrics="performance", aggregation="p50,p95,p99").json()
    for how in ("p50", "p95", "p99"):
        single = query(http, metrics="performance", aggregation=how).json()
        for one, many in zip(
            single["performance"]["timeSeries"], listed["performance"]["timeSeries"], strict=True
        ):
            for field in ("latency", "llmLatency", "toolLatency"):
                assert one[field] == many[field][how]


def test_one_value_keeps_its_shape(http: httpx2.Client) -> None:
    point = query(http, metrics="performance", aggregation="p95").json()["performance"]
    assert point["aggregation"] == "p95"
    assert point["timeSeries"][9]["llmLatency"] == pytest.approx(2.9, rel=REL)


@pytest.mark.parametrize(
    ("aggregation", "value"),
    [("p50,p42", "p42"), ("p50,", ""), ("p50,,p99", ""), ("P95", "P95"), ("p50, p95", " p95")],
)
def test_a_bad_item_answers_400_naming_it(
    http: httpx2.Client, aggregation: str, value: str
) -> None:
    response = query(http, aggregation=aggregation)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "INVALID_PARAMETERS",
        "message": f"Invalid aggregation {value!r}: use one of {', '.join(AGGREGATIONS)}",
        "details": {"parameter": "aggregation", "value": value, "allowedValues": [*AGGREGATIONS]},
    }


def test_a_repeated_item_answers_400(http: httpx2.Client) -> None:
    response = query(http, aggregation="p95,p50,p95")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "INVALID_PARAMETERS"
    assert body["details"] == {
        "parameter": "aggregation",
        "value": "p95,p50,p95",
        "allowedValues": [*AGGREGATIONS],
    }
    assert "once" in body["message"]


def test_csv_has_a_column_per_statistic(http: httpx2.Client) -> None:
    response = query(http, metrics="tools", aggregation="p50,max", format="csv")
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert "tools.latency" not in rows[0]
    assert float(rows[19]["tools.latency.p50"]) == pytest.approx(1.0, rel=REL)
    assert float(rows[19]["tools.latency.max"]) == pytest.approx(1.5, rel=REL)
    assert rows[0]["tools.latency.p50"] == ""  # no call in that step
    assert rows[19]["tools.calls"] == "2"


def test_prometheus_answers_a_list_as_it_answers_one(http: httpx2.Client) -> None:
    listed = query(http, aggregation="p50,p95,p99", format="prometheus")
    single = query(http, aggregation="p95", format="prometheus")
    assert listed.status_code == 200, listed.text
    assert listed.text == single.text  # the window's gauges: no time series, no aggregation
