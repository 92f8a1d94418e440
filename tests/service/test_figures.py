"""Figures with one definition, over real HTTP: the budget's projection, context size, plurals.

- The burn rate and the month's projection divide by the time the data covers, so the same
  10 seconds of spending project the same month whatever the timeframe asked for.
- Context size (every input token of a call) per model and agent: current, max, p95.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy
import pytest

from agentguard.events import LLMCallFinished
from agentguard.testing import FakeClock
from agentguard_metrics import MemoryStore
from agentguard_service import create_app
from service import dataset, live

if TYPE_CHECKING:
    import httpx2

T0 = dataset.T0
FIRST = T0 + 3600 + 5  # 01:00:05: the first call of a 10-second session ...
NOW = FIRST + 10  # ... and now, as it ends
SPENT = 0.36  # the demo: $0.36 in 10 s


def _call(when: float, cost: float, *, model: str, agent: str, context: int) -> LLMCallFinished:
    return dataset.llm(
        when, model=model, agent=agent, input_tokens=context, costs=(cost, 0.0, 0.0, 0.0, 0.0)
    )


def _serve(store: MemoryStore, clock: FakeClock) -> Iterator[httpx2.Client]:
    app = create_app(store, rate_limit_per_s=None, clock=clock.time, budget_usd_per_month=100.0)
    with live.client(app) as client:
        yield client


@pytest.fixture
def ten_seconds(clock: FakeClock) -> Iterator[httpx2.Client]:
    """A service over 10 seconds of spending: 4 calls of $0.09 from 01:00:05 to 01:00:15."""
    clock.advance(NOW - clock.time())
    store = MemoryStore(clock=clock.time, liveness_s=3600.0)
    calls = [
        _call(FIRST + i * 10 / 3, SPENT / 4, model="claude-sonnet-4-6", agent="a", context=1000)
        for i in range(4)
    ]
    dataset.feed(store, clock, calls)
    yield from _serve(store, clock)


def _costs(http: httpx2.Client, timeframe: str) -> dict[str, Any]:
    response = http.get("/api/v1/metrics", params={"timeframe": timeframe, "metrics": "costs"})
    assert response.status_code == 200, response.text
    costs: dict[str, Any] = response.json()["costs"]
    return costs


def test_the_projection_does_not_depend_on_the_timeframe_asked_for(
    ten_seconds: httpx2.Client,
) -> None:
    answers = {t: _costs(ten_seconds, t) for t in ("1h", "6h", "24h", "7d")}
    # The data covers 01:00:00 (its first minute) to now, 01:00:15: one minute at least.
    burn_per_day = SPENT / 60 * 86400
    month_left_s = 31 * 86400 - (NOW - T0)
    for timeframe, costs in answers.items():
        assert costs["total"] == pytest.approx(SPENT), timeframe
        assert costs["trends"]["burnRatePerDay"] == pytest.approx(burn_per_day), timeframe
        assert costs["trends"]["projectedMonthly"] == pytest.approx(
            SPENT + burn_per_day * month_left_s / 86400
        ), timeframe
        assert costs["budget"]["projected"] == costs["trends"]["projectedMonthly"]
    # Issue 16: dividing by the hour asked for projected $249 from a 10 s demo.
    assert answers["1h"]["trends"]["burnRatePerDay"] != pytest.approx(SPENT / 3600 * 86400)


def test_the_burn_rate_runs_from_the_first_spending_minute_to_now(clock: FakeClock) -> None:
    clock.advance(T0 + 3 * 3600 + 30 - clock.time())  # now: 03:00:30
    store = MemoryStore(clock=clock.time, liveness_s=3600.0)
    calls = [
        _call(T0 + 2 * 3600 + 20 * 60 + 40, 1.0, model="m", agent="a", context=10),  # 02:20:40
        _call(T0 + 2 * 3600 + 50 * 60, 2.0, model="m", agent="a", context=10),
    ]
    dataset.feed(store, clock, calls)
    for http in _serve(store, clock):
        for timeframe in ("1h", "24h"):
            trends = _costs(http, timeframe)["trends"]
            covered_s = 40 * 60 + 30  # 02:20:00 to 03:00:30
            assert trends["burnRatePerDay"] == pytest.approx(3.0 / covered_s * 86400)


@pytest.fixture
def contexts(clock: FakeClock) -> Iterator[httpx2.Client]:
    """Two agents on two models: support's context grows at 00:50, billing calls at 01:00:14."""
    clock.advance(NOW - clock.time())
    store = MemoryStore(clock=clock.time, liveness_s=3600.0)
    calls = [
        *(
            _call(T0 + 3000 + i, 0.01, model="claude-sonnet-4-6", agent="support", context=c)
            for i, c in enumerate([1000, 4000, 9000])
        ),
        _call(T0 + 3000 + 5, 0.01, model="claude-opus-4-8", agent="billing", context=50_000),
        _call(NOW - 1, 0.01, model="claude-sonnet-4-6", agent="billing", context=2000),
    ]
    dataset.feed(store, clock, calls)
    yield from _serve(store, clock)


def test_context_size_per_model_and_agent_in_the_query(contexts: httpx2.Client) -> None:
    response = contexts.get("/api/v1/metrics", params={"timeframe": "1h", "metrics": "context"})
    assert response.status_code == 200, response.text
    context = response.json()["context"]
    sonnet = [1000, 4000, 9000, 2000]
    assert context["byModel"] == {
        "claude-opus-4-8": {"current": 50_000, "max": 50_000, "p95": 50_000},
        "claude-sonnet-4-6": {
            "current": 2000,  # the latest step with calls: billing's, at 01:00
            "max": 9000,
            "p95": pytest.approx(numpy.percentile(sonnet, 95), rel=0.01),
        },
    }
    assert context["byAgent"]["support"] == {
        "current": 9000,
        "max": 9000,
        "p95": pytest.approx(numpy.percentile([1000, 4000, 9000], 95), rel=0.01),
    }
    assert context["byAgent"]["billing"]["max"] == 50_000
    one = contexts.get(
        "/api/v1/metrics", params={"timeframe": "1h", "metrics": "context", "agent": "support"}
    ).json()["context"]
    assert list(one["byAgent"]) == ["support"]
    assert one["byModel"]["claude-sonnet-4-6"]["max"] == 9000


def test_context_size_in_the_snapshot(contexts: httpx2.Client) -> None:
    snapshot = contexts.get("/api/v1/snapshot").json()
    sizes = snapshot["context_tokens"]
    assert sizes["byModel"]["claude-opus-4-8"] == {"current": 50_000, "max": 50_000, "p95": 50_000}
    assert sizes["byAgent"]["support"]["max"] == 9000
    assert set(sizes["byAgent"]) == {"support", "billing"}


def test_context_size_in_the_prometheus_format(contexts: httpx2.Client) -> None:
    response = contexts.get(
        "/api/v1/metrics", params={"timeframe": "1h", "metrics": "context", "format": "prometheus"}
    )
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    assert (
        'agentguard_window_context_tokens{model="claude-opus-4-8",stat="max",timeframe="1h"} '
        "50000.0"
    ) in lines
    assert (
        'agentguard_window_agent_context_tokens{agent="support",stat="current",timeframe="1h"} '
        "9000.0"
    ) in lines


def test_context_size_over_several_agents_merges_their_steps(contexts: httpx2.Client) -> None:
    params = {"timeframe": "1h", "metrics": "context"}
    every = contexts.get("/api/v1/metrics", params=params).json()["context"]
    both = contexts.get("/api/v1/metrics", params={**params, "agent": "support,billing"})
    assert both.status_code == 200, both.text
    assert both.json()["context"]["byModel"] == every["byModel"], "the two agents are all there is"
