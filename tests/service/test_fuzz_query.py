"""Hypothesis against the running service: any query string gets a 200 or a JSON 400, never more."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.testing import FakeClock
from agentguard_service import (
    AGGREGATIONS,
    FORMATS,
    GRANULARITIES,
    GROUPS,
    PARAMETERS,
    TIMEFRAMES,
    MetricsService,
    create_app,
)
from service import dataset
from support.digits import numeric_text, with_non_ascii_digits

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


_WITH_DIGITS = {
    "timeframe": [*TIMEFRAMES],
    "granularity": [*GRANULARITIES],
    "aggregation": [a for a in AGGREGATIONS if any(c.isdigit() for c in a)],
}


@st.composite
def _other_digits(draw: st.DrawFn) -> tuple[str, str]:
    parameter = draw(st.sampled_from(sorted(_WITH_DIGITS)))
    value = draw(st.sampled_from(_WITH_DIGITS[parameter]))
    return parameter, draw(with_non_ascii_digits(value))


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=_other_digits())
def test_values_in_other_digits_are_refused(http: httpx2.Client, pair: tuple[str, str]) -> None:
    parameter, value = pair  # "\uff124h", "p\u06695": each looks like a valid value, none is
    response = http.get("/api/v1/metrics?" + urlencode([pair]))
    assert response.status_code == 400, response.text
    assert response.json()["details"] == {
        "parameter": parameter,
        "value": value,
        "allowedValues": response.json()["details"]["allowedValues"],
    }


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/api/v1/snapshot", "/api/v1/stream"]),
    name=st.sampled_from(["limit", "interval", "since"]),
    value=numeric_text(),
)
def test_routes_without_parameters_refuse_numbers_in_any_digits(
    http: httpx2.Client, path: str, name: str, value: str
) -> None:
    response = http.get(path, params={name: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "INVALID_PARAMETERS"
