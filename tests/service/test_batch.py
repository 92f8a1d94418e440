"""``POST /api/v1/metrics/batch`` over real HTTP: a section per item, and every bad body refused.

The data set is ``service.dataset`` (support and billing, 01:01 to 02:01 at one-minute steps).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator
from agentguard_redis import RedisStore
from agentguard_service import MetricsService, QueryEngine, create_app, parse_batch, parse_query
from agentguard_service.batch import BODY_KEYS, MAX_BATCH_BODY_BYTES
from service import dataset
from service.live import strict_json
from support.redis_server import RedisServer

BATCH = "/api/v1/metrics/batch"


def post(http: httpx2.Client, body: object) -> dict[str, Any]:
    response = http.post(BATCH, json=body)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = strict_json(response.text)
    return document


def refused(response: httpx2.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == ("INVALID_PARAMETERS" if status == 400 else "PAYLOAD_TOO_LARGE")
    assert body["message"]
    return body


def test_one_section_per_item_in_order(dataset_client: httpx2.Client) -> None:
    document = post(
        dataset_client,
        {
            "agents": ["billing", "support"],
            "endpoints": ["llm:sonnet", "tool:search"],
            "timeframe": "1h",
            "metrics": ["performance", "costs", "errors"],
            "aggregation": ["p50", "p95"],
        },
    )
    assert (document["timeframe"], document["granularity"]) == ("1h", "1m")
    assert document["window"]["start"] == "2026-01-01T01:01:00Z"
    items = document["items"]
    assert [(i["id"], i["kind"], i["hasData"]) for i in items] == [
        ("billing", "agent", True),
        ("support", "agent", True),
        ("llm:sonnet", "endpoint", True),
        ("tool:search", "endpoint", True),
    ]
    billing, support, sonnet, search = items
    assert billing["summary"]["totalExecutions"] == 2
    assert support["summary"]["totalCost"] == pytest.approx(0.875)
    assert support["errors"]["breakdown"]["byKind"] == {"rate_limited": 1}
    assert sonnet["summary"]["totalExecutions"] == 2  # the two sonnet calls, not the tool's
    assert sonnet["summary"]["failedExecutions"] == 1
    assert sonnet["costs"]["total"] == pytest.approx(0.875)
    # 1.0 s and 3.0 s at 01:10: numpy's default (linear) p50 is 2.0 s.
    assert sonnet["performance"]["timeSeries"][9]["llmLatency"]["p50"] == pytest.approx(
        2.0, rel=0.01
    )
    assert sonnet["performance"]["timeSeries"][19]["executions"] == 0  # tool calls are not its
    assert search["summary"]["totalExecutions"] == 2
    assert search["costs"]["total"] == 0.0  # a tool costs nothing by itself
    assert [e["endpoint"] for e in search["performance"]["endpoints"]] == ["tool:search"]
    # errors are counted by source and kind, not by endpoint: not answered for one
    assert "errors" not in sonnet
    assert sonnet["notApplicable"] == ["errors"]


def test_the_agent_parameter_narrows_endpoints(dataset_client: httpx2.Client) -> None:
    document = post(dataset_client, {"endpoints": ["tool:search"], "agent": "billing"})
    (search,) = document["items"]
    assert search["summary"]["totalExecutions"] == 1
    assert search["summary"]["failedExecutions"] == 1


def test_unknown_items_are_named_and_empty(dataset_client: httpx2.Client) -> None:
    document = post(
        dataset_client,
        {"agents": ["nobody"], "endpoints": ["llm:claude-opus-4-8"], "metrics": "performance"},
    )
    assert document["items"] == [
        {
            "id": "nobody",
            "kind": "agent",
            "hasData": False,
            "summary": None,
            "performance": {"timeSeries": []},
        },
        {
            "id": "llm:claude-opus-4-8",
            "kind": "endpoint",
            "hasData": False,
            "summary": None,
            "performance": {"timeSeries": []},
            "notApplicable": [],
        },
    ]


def test_endpoint_ids_mix_endpoints_and_agents(dataset_client: httpx2.Client) -> None:
    document = post(dataset_client, {"endpointIds": ["llm:haiku", "support"], "timeframe": "1h"})
    assert [(i["id"], i["kind"]) for i in document["items"]] == [
        ("llm:haiku", "endpoint"),
        ("support", "agent"),
    ]
    assert document["items"][0]["summary"]["totalCost"] == pytest.approx(0.75)


def _names(n: int) -> list[str]:
    return [f"a{i}" for i in range(n)]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b"{not json", "body"),
        (b"", "body"),
        (b"\xff\xfe", "body"),
        (b"[1, 2]", "body"),
        (b'"support"', "body"),
        (b"[" * 5000 + b"]" * 5000, "body"),
        (b'{"agents": ["a"], "endpointId": ["x"]}', "endpointId"),
        (b'{"agents": 3}', "agents"),
        (b'{"agents": [1]}', "agents"),
        (b'{"agents": ["a", ["b"]]}', "agents"),
        (b'{"agents": []}', "items"),
        (b"{}", "items"),
        (b'{"agents": [""]}', "agents"),
        (b'{"agents": ["bad\\nname"]}', "agents"),
        (b'{"agents": ["' + b"x" * 300 + b'"]}', "agents"),
        (b'{"endpoints": ["search"]}', "endpoints"),
        (b'{"endpoints": ["llm:"]}', "endpoints"),
        (b'{"agents": ["a"], "endpointIds": ["a"]}', "endpointIds"),
        (b'{"agents": ["a"], "timeframe": "2h"}', "timeframe"),
        (b'{"agents": ["a"], "timeframe": 24}', "timeframe"),
        (b'{"agents": ["a"], "metrics": ["costs", "nope"]}', "metrics"),
        (b'{"agents": ["a"], "aggregation": ["p95", "p95"]}', "aggregation"),
        (b'{"agents": ["a"], "format": "csv"}', "format"),
        (b'{"agents": ["a"], "agent": "b"}', "agent"),
        (json.dumps({"agents": _names(51)}).encode(), "items"),
    ],
)
def test_bad_bodies_answer_400_naming_what(
    dataset_client: httpx2.Client, body: bytes, parameter: str
) -> None:
    response = dataset_client.post(
        BATCH, content=body, headers={"content-type": "application/json"}
    )
    answer = refused(response)
    assert set(answer["details"]) == {"parameter", "value", "allowedValues"}
    assert answer["details"]["parameter"] == parameter
    assert len(answer["details"]["value"]) <= 260  # a long item is quoted cut


def test_a_bad_item_is_named_in_the_answer(dataset_client: httpx2.Client) -> None:
    answer = refused(dataset_client.post(BATCH, json={"endpoints": ["llm:sonnet", "mcp:fetch"]}))
    assert answer["details"] == {
        "parameter": "endpoints",
        "value": "mcp:fetch",
        "allowedValues": ["llm:<name>", "tool:<name>"],
    }
    assert "'mcp:fetch'" in answer["message"]
    answer = refused(dataset_client.post(BATCH, json={"agents": ["support", "support"]}))
    assert answer["details"]["value"] == "support"


def test_ten_thousand_items_are_refused_before_any_is_read(dataset_client: httpx2.Client) -> None:
    body = json.dumps({"agents": _names(10_000)}).encode()
    assert len(body) < MAX_BATCH_BODY_BYTES  # refused for the count, not the size
    answer = refused(
        dataset_client.post(BATCH, content=body, headers={"content-type": "application/json"})
    )
    assert answer["details"]["parameter"] == "items"
    assert answer["details"]["value"] == "10000"
    assert "1 to 50 items" in answer["message"]


def test_a_body_past_the_limit_answers_413(dataset_client: httpx2.Client) -> None:
    big = json.dumps({"agents": _names(40_000)}).encode()
    assert len(big) > MAX_BATCH_BODY_BYTES
    refused(dataset_client.post(BATCH, content=big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut while reading
        for _ in range(64):
            yield b" " * 4096

    response = refused(dataset_client.post(BATCH, content=chunks()), 413)
    assert str(MAX_BATCH_BODY_BYTES) in response["message"]


def test_only_post_and_no_query_string(dataset_client: httpx2.Client) -> None:
    assert dataset_client.get(BATCH).status_code == 405
    answer = refused(dataset_client.post(BATCH + "?timeframe=1h", json={"agents": ["a"]}))
    assert answer["details"]["parameter"] == "timeframe"


def test_the_token_guards_the_batch(clock: FakeClock) -> None:
    app = create_app(dataset.build(clock), token="s3cret", rate_limit_per_s=None, clock=clock.time)
    with MetricsService(app) as service, httpx2.Client(base_url=service.url) as http:
        assert http.post(BATCH, json={"agents": ["support"]}).status_code == 401
        ok = http.post(
            BATCH, json={"agents": ["support"]}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200, ok.text


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_BODIES = st.dictionaries(
    st.sampled_from(BODY_KEYS) | st.text(max_size=8),
    _JSON | st.lists(st.sampled_from(["support", "llm:sonnet", "tool:search", "1h", "p95"])),
    max_size=4,
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_BODIES | _JSON)
def test_any_json_body_gets_200_or_400(dataset_client: httpx2.Client, body: object) -> None:
    response = dataset_client.post(BATCH, json=body)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"] == "INVALID_PARAMETERS"


def test_items_times_steps_are_bounded(dataset_client: httpx2.Client) -> None:
    """24 h at 1m is 1,440 steps a section: 10 fit in the 15,000 steps of an answer, 11 not."""
    fine = {"timeframe": "24h", "granularity": "1m", "metrics": "costs"}
    assert len(post(dataset_client, {"agents": _names(10), **fine})["items"]) == 10
    answer = refused(dataset_client.post(BATCH, json={"agents": _names(11), **fine}))
    assert answer["details"]["parameter"] == "items"
    assert "coarser granularity" in answer["message"]
    query = {"agent": ",".join(_names(10)), **fine}  # 10 agents and their totals: 11 sections
    answer = refused(dataset_client.get("/api/v1/metrics", params=query))
    assert answer["details"]["parameter"] == "agent"


def test_the_agents_a_request_reads_are_parsed_in_one_place() -> None:
    """What a token's scope will be checked against: the agents each request reads."""
    assert parse_query([("agent", "support,billing")]).agents == ("support", "billing")
    assert parse_query([]).agents is None
    batch = parse_batch(b'{"agents": ["a", "b"], "endpointIds": ["c", "llm:m"]}')
    assert [batch.agents_of(i) for i in batch.items] == [("a",), ("b",), ("c",), None]
    assert batch.agents is None  # an endpoint over every agent reads them all
    narrowed = parse_batch(b'{"endpoints": ["llm:m", "tool:t"], "agent": ["x", "y"]}')
    assert narrowed.agents == ("x", "y")
    assert parse_batch(b'{"agents": ["a", "b"]}').agents == ("a", "b")


def test_the_redis_store_answers_as_the_memory_store(
    redis_server: RedisServer, clock: FakeClock
) -> None:
    """Agent lists and the batch read through the Store protocol only: any store, one answer."""
    memory = dataset.build(clock)  # moves the clock to dataset.NOW
    redis = RedisStore(redis_server.url, clock=clock.time)
    aggregator = Aggregator(redis, clock=clock.time, process_id="dataset", interval_s=None)
    for event in dataset.events():
        aggregator.record(event)
    assert aggregator.flush(2.0)
    query = parse_query([("timeframe", "1h"), ("agent", "support,billing,nobody")])
    batch = parse_batch(
        b'{"endpointIds": ["support", "nobody", "llm:sonnet", "tool:search"], "timeframe": "6h"}'
    )
    answers = [
        (engine.query(query), engine.batch(batch))
        for engine in (QueryEngine(memory, clock=clock.time), QueryEngine(redis, clock=clock.time))
    ]
    assert answers[0] == answers[1]
    by_agent = cast("list[dict[str, Any]]", answers[1][0]["byAgent"])
    assert by_agent[0]["summary"]["totalExecutions"] == 3
