"""A real metrics service over known events, for ``agentguard top``'s tests.

The events go through a real ``Aggregator`` into a ``MemoryStore`` that a ``MetricsService``
serves; the figures below are worked out by hand from them:

| what                   | events                                                           |
|------------------------|------------------------------------------------------------------|
| executions 7, errors 1 | 4 LLM calls (1 failed), 3 tool calls                             |
| llm:sonnet             | 3 calls of 250 ms; each 1,000 input, 200 output, 2,000 cache-read |
|                        | tokens and $0.125                                                |
| llm:haiku              | 1 failed call of 500 ms, unpriced                                |
| tool:search            | 2 calls of 100 ms                                                |
| tool:lookup_order      | 1 call of 40 ms                                                  |
| cost $0.3750           | 3 x $0.125                                                       |
| cache hit ratio 66.7%  | 6,000 read of 9,000 input tokens                                 |
| active runs 1          | one run started, not finished                                    |
| breakers               | anthropic open; search_api opened then closed                    |
| loop detections 2      | search repeat warn, then stop                                    |
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route

from agentguard.events import (
    BreakerStateChanged,
    Event,
    LLMCallFinished,
    LoopDetected,
    RunStarted,
    ToolCallFinished,
)
from agentguard_metrics import Aggregator, MemoryStore
from agentguard_service import MetricsService, create_app

if TYPE_CHECKING:
    from starlette.requests import Request

Serve = Callable[..., MetricsService]


def events(now: float) -> list[Event]:
    """The events of the module docstring, a little before ``now``."""
    t = now - 60.0
    sonnet = [
        LLMCallFinished(
            model="sonnet",
            agent="support",
            at_unix_s=t + i,
            duration_s=0.25,
            input_tokens=1000,
            output_tokens=200,
            cache_read_tokens=2000,
            cost_usd=0.125,
            input_cost_usd=0.05,
            output_cost_usd=0.05,
            cache_read_cost_usd=0.025,
        )
        for i in range(3)
    ]
    return [
        RunStarted(agent="support", at_unix_s=t),
        *sonnet,
        LLMCallFinished(
            model="haiku",
            agent="support",
            at_unix_s=t + 4,
            duration_s=0.5,
            ok=False,
            error_kind="overloaded",
        ),
        ToolCallFinished(tool="search", agent="support", at_unix_s=t + 5, duration_s=0.1),
        ToolCallFinished(tool="search", agent="support", at_unix_s=t + 6, duration_s=0.1),
        ToolCallFinished(tool="lookup_order", agent="support", at_unix_s=t + 7, duration_s=0.04),
        BreakerStateChanged(
            breaker="anthropic",
            old_state="closed",
            new_state="open",
            failure_count=3,
            agent=None,
            at_unix_s=t + 8,
        ),
        BreakerStateChanged(
            breaker="search_api",
            old_state="closed",
            new_state="open",
            failure_count=3,
            agent=None,
            at_unix_s=t + 8,
        ),
        BreakerStateChanged(
            breaker="search_api",
            old_state="half_open",
            new_state="closed",
            failure_count=0,
            agent=None,
            at_unix_s=t + 9,
        ),
        LoopDetected(
            tool="search", pattern="repeat", repeats=4, action="warn", agent="support", at_unix_s=t
        ),
        LoopDetected(
            tool="search", pattern="repeat", repeats=5, action="stop", agent="support", at_unix_s=t
        ),
    ]


def known_store() -> MemoryStore:
    """A memory store holding :func:`events`."""
    store = MemoryStore()
    aggregator = Aggregator(store, interval_s=None, process_id="cli-tests")
    for event in events(time.time()):
        aggregator.record(event)
    assert aggregator.flush(5.0)
    return store


def without_stream(app: Starlette) -> Starlette:
    """``app`` with ``/api/v1/stream`` answering 404: a service (or proxy) without the stream."""

    async def missing(request: Request) -> Response:
        return Response(status_code=404)

    return Starlette(routes=[Route("/api/v1/stream", missing), Mount("/", app=app)])


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(stream=True, port=0, store=None, **create_app_options)``: a running service.

    Over :func:`known_store` unless ``store`` is given; no rate limit unless asked for.
    """
    services: list[MetricsService] = []

    def start(
        *, stream: bool = True, port: int = 0, store: MemoryStore | None = None, **options: Any
    ) -> MetricsService:
        options.setdefault("rate_limit_per_s", None)
        app = create_app(known_store() if store is None else store, **options)
        served = app if stream else without_stream(app)
        service = MetricsService(served, port=port)
        services.append(service)
        return service

    yield start
    for service in services:
        service.close()
