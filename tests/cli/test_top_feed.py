"""Where ``agentguard top`` gets its snapshots: a real metrics service over real HTTP."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentguard_cli._topfeed import MAX_EVENT_CHARS, Backoff, Feed, ServerEvent, server_events
from agentguard_cli._topview import TopState
from agentguard_metrics import MemoryStore
from agentguard_service import MetricsService
from cli.conftest import Serve
from support.waiting import wait_until

if TYPE_CHECKING:
    from starlette.requests import Request

WAIT_S = 15.0


@pytest.fixture
def feeds() -> Iterator[Callable[..., Feed]]:
    started: list[Feed] = []

    def start(url: str, token: str | None = None, **options: Any) -> Feed:
        feed = Feed(url, token, **options).start()
        started.append(feed)
        return feed

    yield start
    for feed in started:
        feed.close(timeout_s=WAIT_S)


def eventually(feed: Feed, check: Callable[[TopState], bool]) -> TopState:
    def passed() -> TopState | None:
        state = feed.state()
        return state if check(state) else None

    return wait_until(passed, WAIT_S, lambda: f"a state passing the check; now {feed.state()}")


class FailingStore(MemoryStore):
    """A memory store whose reads fail (as a Redis store's do while Redis is down)."""

    def counters(self, *args: Any, **kwargs: Any) -> dict[tuple[str, ...], float]:
        raise ConnectionError("store down")


def test_snapshots_come_from_the_stream(serve: Serve, feeds: Callable[..., Feed]) -> None:
    service = serve(stream_interval_s=0.05)
    feed = feeds(service.url + "/")
    state = eventually(feed, lambda s: len(s.history) >= 3)
    latest = state.latest
    assert latest is not None
    assert state.source == "stream"
    assert state.url == service.url
    assert state.problem is None
    assert (latest.executions, latest.errors, latest.active_runs) == (7, 1, 1)
    assert latest.cost_usd == pytest.approx(0.375)
    assert latest.breakers == {"anthropic": "open", "search_api": "closed"}
    assert latest.loop_detections == 2
    assert latest.tokens["cache_read"] == 6000


def test_without_the_stream_it_polls_the_snapshot(serve: Serve, feeds: Callable[..., Feed]) -> None:
    service = serve(stream=False)
    feed = feeds(service.url, poll_interval_s=0.05)
    state = eventually(feed, lambda s: len(s.history) >= 2)
    assert state.source == "polling"
    assert state.latest is not None
    assert state.latest.executions == 7


@pytest.mark.parametrize(
    ("token", "said"),
    [
        ("wrong", "the token is wrong"),
        (None, "the token is missing"),
    ],
    ids=["wrong", "missing"],
)
def test_a_refused_token_is_a_problem_retried_later(
    serve: Serve, feeds: Callable[..., Feed], token: str | None, said: str
) -> None:
    service = serve(token="right")
    feed = feeds(service.url, token)
    state = eventually(feed, lambda s: s.problem is not None)
    assert state.problem is not None
    assert state.problem.message == f"{service.url} answered 401: {said}"
    assert state.problem.detail is not None
    assert "AGENTGUARD_TOKEN" in state.problem.detail
    assert state.problem.retry_at_s is not None
    assert state.latest is None


def test_the_right_token_is_sent(serve: Serve, feeds: Callable[..., Feed]) -> None:
    service = serve(token="right")
    feed = feeds(service.url, "right")
    assert eventually(feed, lambda s: s.latest is not None).problem is None


def test_a_failing_store_is_said_while_the_stream_goes_on(
    serve: Serve, feeds: Callable[..., Feed]
) -> None:
    service = serve(store=FailingStore(), stream_interval_s=0.05)
    feed = feeds(service.url)
    state = eventually(feed, lambda s: s.problem is not None)
    assert state.problem is not None
    assert state.problem.message == "the service cannot read its store"
    assert state.problem.detail == "the metrics store failed"
    assert state.problem.retry_at_s is None  # nothing to retry: the stream is still up


def test_rate_limiting_is_said_and_waited_out(serve: Serve, feeds: Callable[..., Feed]) -> None:
    service = serve(stream=False, rate_limit_per_s=0.5, rate_limit_burst=1)
    feed = feeds(service.url, poll_interval_s=0.01)
    state = eventually(feed, lambda s: s.problem is not None)
    assert state.latest is not None  # the first request got through
    assert state.problem is not None
    assert state.problem.message == f"{service.url} is rate limiting this client (429)"
    assert state.problem.retry_at_s is not None
    assert state.problem.retry_at_s - time.monotonic() > 1.0  # Retry-After: 2, not 1 s


def test_a_url_that_is_no_metrics_service_is_said(serve: Serve, feeds: Callable[..., Feed]) -> None:
    service = serve()
    feed = feeds(service.url + "/api/v1/snapshot")  # a common slip: the snapshot's URL
    state = eventually(feed, lambda s: s.problem is not None)
    assert state.problem is not None
    assert state.problem.message == (
        f"{service.url}/api/v1/snapshot has no /api/v1/snapshot/api/v1/snapshot (404)"
    )
    assert state.problem.detail == "is it the base URL of an agentguard metrics service?"


def test_an_answer_that_is_no_snapshot_is_said(feeds: Callable[..., Feed]) -> None:
    async def other(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    with MetricsService(Starlette(routes=[Route("/api/v1/snapshot", other)])) as service:
        feed = feeds(service.url)
        state = eventually(feed, lambda s: s.problem is not None)
    assert state.problem is not None
    assert state.problem.message == (
        f"{service.url} does not look like an agentguard metrics service"
    )
    assert state.problem.detail == "uptime_seconds is not a number: None"


def test_an_unreachable_url_is_retried_with_growing_waits(
    unused_port: int, feeds: Callable[..., Feed]
) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    feed = feeds(url, backoff=Backoff(first_s=0.05, max_s=0.2))
    waits: list[float] = []
    seen: set[float] = set()

    def four_waits_seen() -> bool:
        problem = feed.state().problem
        if problem is not None and problem.retry_at_s not in seen:
            assert problem.retry_at_s is not None
            seen.add(problem.retry_at_s)
            assert problem.message == f"cannot reach {url}"
            assert problem.detail == "connection refused"
            waits.append(problem.retry_at_s)
        return len(waits) >= 4

    wait_until(four_waits_seen, WAIT_S, lambda: f"four retries; seen {waits}", interval_s=0.005)
    gaps = [b - a for a, b in itertools.pairwise(waits)]
    assert gaps[-1] > gaps[0]  # the waits grow: 0.05, 0.1, 0.2 s


def test_it_recovers_once_the_service_is_up(
    serve: Serve, unused_port: int, feeds: Callable[..., Feed]
) -> None:
    feed = feeds(f"http://127.0.0.1:{unused_port}", backoff=Backoff(first_s=0.05, max_s=0.2))
    eventually(feed, lambda s: s.problem is not None)
    serve(port=unused_port)
    state = eventually(feed, lambda s: s.latest is not None)
    assert state.problem is None


def test_closing_does_not_wait_for_the_network(serve: Serve) -> None:
    service = serve(stream_interval_s=30.0)  # the thread sits in a read for 5 s
    feed = Feed(service.url).start()
    eventually(feed, lambda s: s.latest is not None)
    started = time.monotonic()
    feed.close()
    assert time.monotonic() - started < 1.0


def test_the_event_stream_is_parsed() -> None:
    lines = [
        ": a comment",
        "event: snapshot",
        'data: {"a":',
        "data:1}",
        "",
        "",
        "id: 7",
        "",  # no data: not dispatched
        "data: plain",
        "retry: 10",
        "",
        "event: error",
        "data:  two spaces",
        "",
        "event: cut",
        "data: at the end",  # no blank line: the stream ended mid-event
    ]
    assert list(server_events(lines)) == [
        ServerEvent("snapshot", '{"a":\n1}'),
        ServerEvent("message", "plain"),
        ServerEvent("error", " two spaces"),
    ]


def test_an_endless_event_is_refused() -> None:
    line = "data: " + "x" * 1024
    with pytest.raises(ValueError, match="an event of more than"):
        list(server_events(line for _ in range(MAX_EVENT_CHARS // 1024 + 2)))


def test_backoff_doubles_up_to_its_limit_and_resets() -> None:
    backoff = Backoff(first_s=1.0, max_s=10.0)
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next() == 1.0
