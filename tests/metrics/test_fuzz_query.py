"""Hypothesis against the running service: any query string gets a 200 or a JSON 400, never more."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.testing import FakeClock
from agentguard_metrics import (
    AGGREGATIONS,
    FORMATS,
    GRANULARITIES,
    GROUPS,
    PARAMETERS,
    TIMEFRAMES,
    MetricsService,
    create_app,
)
from metrics import dataset

_KNOWN_VALUES = [*TIMEFRAMES, *GRANULARITIES, *GROUPS, *AGGREGATIONS, *FORMATS, "support"]
_NAMES = st.sampled_from(PARAMETERS) | st.text(max_size=12)
_VALUES = (
    st.sampled_from(_KNOWN_VALUES)
    | st.lists(st.sampled_from(GROUPS), min_size=1, max_size=4).map(",".join)
    | st.text(max_size=40)
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx2.Client]:
    clock = FakeClock()
    store = dataset.build(clock)
    app = create_app(store, clock=clock.time, rate_limit_per_s=None)
    with (
        MetricsService(app) as service,
        httpx2.Client(base_url=service.url, timeout=30.0) as client,
    ):
        yield client


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(_NAMES, _VALUES), max_size=5))
def test_any_query_gets_200_or_400(http: httpx2.Client, pairs: list[tuple[str, str]]) -> None:
    response = http.get("/api/v1/metrics?" + urlencode(pairs))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        body = response.json()
        assert body["error"] == "INVALID_PARAMETERS"
        assert set(body["details"]) == {"parameter", "value", "allowedValues"}
    else:
        assert "Traceback" not in response.text
