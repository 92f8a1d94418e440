"""Reading the service's JSON answers as a user's client does, strictly: ``Infinity`` and
``NaN`` are not JSON, so a document holding them fails the read."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx2

from agentguard_metrics import Store
from agentguard_service import MetricsService, create_app

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _no_constant(name: str) -> object:
    raise AssertionError(f"the answer holds {name}, which is not JSON")


def strict_json(text: str) -> Any:
    """``text`` parsed as JSON, refusing ``Infinity``, ``-Infinity`` and ``NaN``."""
    return json.loads(text, parse_constant=_no_constant)


QUERY = "/api/v1/metrics?timeframe=24h&metrics=performance,usage,costs,errors,cache,tools"


def snapshot_and_stream(
    store: Store, clock: Callable[[], float] = time.time
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The snapshot, the stream's first snapshot and a query of the day up to ``clock()``.

    Each from a real service over ``store``; each must answer 200 with valid JSON.
    """
    app = create_app(store, rate_limit_per_s=None, stream_interval_s=0.05, clock=clock)
    service = MetricsService(app)
    try:
        with httpx2.Client(base_url=service.url, timeout=10.0) as http:
            response = http.get(QUERY)
            assert response.status_code == 200, response.text
            query: dict[str, Any] = strict_json(response.text)
            response = http.get("/api/v1/snapshot")
            assert response.status_code == 200, response.text
            snapshot: dict[str, Any] = strict_json(response.text)
            with http.stream("GET", "/api/v1/stream") as streamed:
                assert streamed.status_code == 200
                kind = ""
                for line in streamed.iter_lines():
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        assert kind == "snapshot", line
                        return snapshot, strict_json(line.removeprefix("data: ")), query
    finally:
        service.close()
    raise AssertionError("the stream ended without a snapshot")


@contextmanager
def client(app: Starlette) -> Iterator[httpx2.Client]:
    """An HTTP client of ``app`` served by a real :class:`MetricsService` (closed after)."""
    service = MetricsService(app)
    try:
        with httpx2.Client(base_url=service.url, timeout=10.0) as http:
            yield http
    finally:
        service.close()
