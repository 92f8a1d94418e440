"""The HTTP app through a real uvicorn server and httpx2: routes, errors, auth, limits, stream."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx2
import pytest

from agentguard.serving import ConnectionLimits
from agentguard.testing import FakeClock
from agentguard_metrics import Bucket, MemoryStore
from agentguard_service import MetricsService, create_app
from service import dataset

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Serve = Callable[..., httpx2.Client]


class FlakyStore(MemoryStore):
    """A memory store whose reads fail while ``broken`` (as a Redis store's do when it is down)."""

    broken = False

    def _check(self) -> None:
        if self.broken:
            raise ConnectionError("store down")

    def counter(self, *args: Any, **kwargs: Any) -> float:
        self._check()
        return super().counter(*args, **kwargs)

    def counters(self, *args: Any, **kwargs: Any) -> dict[tuple[str, ...], float]:
        self._check()
        return super().counters(*args, **kwargs)

    def buckets(self, *args: Any, **kwargs: Any) -> list[Bucket]:
        self._check()
        return super().buckets(*args, **kwargs)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(store, **create_app_options)``: an httpx2 client on a running service."""
    services: list[MetricsService] = []
    clients: list[httpx2.Client] = []

    def start(store: MemoryStore, **options: Any) -> httpx2.Client:
        options.setdefault("rate_limit_per_s", None)
        service = MetricsService(create_app(store, **options))
        services.append(service)
        client = httpx2.Client(base_url=service.url, timeout=10.0)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for service in services:
        service.close()
        assert not service.running


@pytest.fixture
def data(clock: FakeClock) -> MemoryStore:
    return dataset.build(clock)


def assert_error(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == code
    assert body["message"]
    assert "Traceback" not in response.text
    return body


def test_every_route_answers(serve: Serve, data: MemoryStore, clock: FakeClock) -> None:
    http = serve(data, clock=clock.time)
    assert http.get("/healthz").json() == {"status": "ok"}
    snapshot = http.get("/api/v1/snapshot").json()
    assert snapshot["total_executions"] == 6
    query = http.get("/api/v1/metrics", params={"timeframe": "1h", "metrics": "costs"})
    assert query.headers["content-type"] == "application/json"
    assert query.json()["costs"]["total"] == pytest.approx(1.625)
    csv = http.get("/api/v1/metrics", params={"timeframe": "1h", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("\n") == 61  # header and 60 steps
    prom = http.get("/api/v1/metrics", params={"timeframe": "1h", "format": "prometheus"})
    assert 'agentguard_window_cost_usd{timeframe="1h"} 1.625' in prom.text
    page = http.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>agentguard metrics</title>" in page.text
    css = http.get("/static/page.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    ("query", "parameter", "value", "allowed"),
    [
        ({"timeframe": "2y"}, "timeframe", "2y", ["1h", "6h", "24h", "7d", "30d"]),
        ({"timeframe": ""}, "timeframe", "", ["1h", "6h", "24h", "7d", "30d"]),
        ({"granularity": "2m"}, "granularity", "2m", ["1m", "5m", "15m", "1h", "1d"]),
        ({"timeframe": "7d", "granularity": "1m"}, "granularity", "1m", ["15m", "1h", "1d"]),
        ({"timeframe": "7d", "granularity": "5m"}, "granularity", "5m", ["15m", "1h", "1d"]),
        ({"timeframe": "30d", "granularity": "15m"}, "granularity", "15m", ["1h", "1d"]),
        ({"timeframe": "1h", "granularity": "1h"}, "granularity", "1h", ["1m", "5m", "15m"]),
        ({"timeframe": "1h", "granularity": "1d"}, "granularity", "1d", ["1m", "5m", "15m"]),
        ({"granularity": "1d"}, "granularity", "1d", ["1m", "5m", "15m", "1h"]),  # 24h default
        (
            {"timeframe": "6h", "granularity": "1d"},
            "granularity",
            "1d",
            ["1m", "5m", "15m", "1h"],
        ),
        (
            {"metrics": "costs,resources"},
            "metrics",
            "resources",
            [
                "performance",
                "usage",
                "costs",
                "errors",
                "cache",
                "context",
                "tools",
                "breakers",
                "alerts",
                "insights",
            ],
        ),
        (
            {"metrics": "costs,"},
            "metrics",
            "",
            [
                "performance",
                "usage",
                "costs",
                "errors",
                "cache",
                "context",
                "tools",
                "breakers",
                "alerts",
                "insights",
            ],
        ),
        (
            {"aggregation": "median"},
            "aggregation",
            "median",
            ["avg", "sum", "min", "max", "p50", "p95", "p99"],
        ),
        ({"format": "xml"}, "format", "xml", ["json", "csv", "prometheus"]),
        ({"agent": ""}, "agent", "", []),
        ({"agent": "a" * 257}, "agent", "a" * 257, []),
        (
            {"endpointId": "x"},
            "endpointId",
            "endpointId",
            ["timeframe", "granularity", "metrics", "aggregation", "format", "agent"],
        ),
    ],
)
def test_bad_parameters_answer_400_naming_them(
    serve: Serve,
    query: Mapping[str, str],
    parameter: str,
    value: str,
    allowed: list[str],
) -> None:
    http = serve(MemoryStore())
    body = assert_error(http.get("/api/v1/metrics", params=query), 400, "INVALID_PARAMETERS")
    assert set(body) == {"error", "message", "details"}
    assert body["details"] == {"parameter": parameter, "value": value, "allowedValues": allowed}


def test_a_repeated_parameter_is_refused(serve: Serve) -> None:
    http = serve(MemoryStore())
    response = http.get("/api/v1/metrics?timeframe=1h&timeframe=6h")
    body = assert_error(response, 400, "INVALID_PARAMETERS")
    assert body["details"]["parameter"] == "timeframe"
    assert "more than once" in body["message"]


@pytest.mark.parametrize("path", ["/api/v1/snapshot", "/api/v1/stream"])
def test_routes_without_parameters_refuse_any(serve: Serve, path: str) -> None:
    http = serve(MemoryStore())
    body = assert_error(http.get(path, params={"agent": "a"}), 400, "INVALID_PARAMETERS")
    assert body["details"] == {"parameter": "agent", "value": "a", "allowedValues": []}


@pytest.mark.parametrize(
    ("timeframe", "granularity"),
    [
        (t, g)
        for t, gs in {
            "1h": ["1m", "5m", "15m"],
            "6h": ["1m", "5m", "15m", "1h"],
            "24h": ["1m", "5m", "15m", "1h"],
            "7d": ["15m", "1h", "1d"],
            "30d": ["1h", "1d"],
        }.items()
        for g in gs
    ],
)
def test_every_allowed_combination_answers(
    serve: Serve, data: MemoryStore, clock: FakeClock, timeframe: str, granularity: str
) -> None:
    http = serve(data, clock=clock.time)
    response = http.get(
        "/api/v1/metrics", params={"timeframe": timeframe, "granularity": granularity}
    )
    assert response.status_code == 200, response.text
    document = response.json()
    # 1h at 15m starts at 01:15, after the 01:10 calls; 6h and longer hold the 00:30 call too
    expected = {"1h": 3 if granularity == "15m" else 5}.get(timeframe, 6)
    assert document["summary"]["totalExecutions"] == expected
    steps = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}[granularity]
    windows = {"1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000}
    assert len(document["performance"]["timeSeries"]) == windows[timeframe] // steps


def test_the_default_granularity_follows_the_timeframe(serve: Serve) -> None:
    http = serve(MemoryStore())
    for timeframe, granularity in {
        "1h": "1m",
        "6h": "5m",
        "24h": "15m",
        "7d": "1h",
        "30d": "1d",
    }.items():
        document = http.get("/api/v1/metrics", params={"timeframe": timeframe}).json()
        assert document["granularity"] == granularity
    assert http.get("/api/v1/metrics").json()["timeframe"] == "24h"


def test_a_token_guards_every_data_route(serve: Serve) -> None:
    http = serve(MemoryStore(), token=TOKEN)
    for path in ("/metrics", "/api/v1/snapshot", "/api/v1/metrics", "/api/v1/stream"):
        missing = assert_error(http.get(path), 401, "UNAUTHENTICATED")
        assert TOKEN not in json.dumps(missing)
        wrong = http.get(path, headers={"Authorization": "Bearer s3cret-tokeN"})
        assert_error(wrong, 401, "UNAUTHENTICATED")
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        basic = http.get(path, headers={"Authorization": f"Basic {TOKEN}"})
        assert_error(basic, 401, "UNAUTHENTICATED")
    assert http.get("/api/v1/snapshot", headers=AUTH).status_code == 200
    assert http.get("/metrics", headers=AUTH).status_code == 200
    for path in ("/healthz", "/", "/static/page.css"):
        assert http.get(path).status_code == 200, path


def test_healthz_says_what_the_app_is_told_without_a_token(serve: Serve) -> None:
    lease = {"holds_lease": True, "replica": "r1", "holder": "r1", "fencing_token": 3}
    states = iter([lease, {**lease, "holds_lease": False, "holder": "r2", "fencing_token": 4}])
    http = serve(MemoryStore(), token=TOKEN, health=lambda: {"alerts": next(states)})
    assert http.get("/healthz").json() == {"status": "ok", "alerts": lease}
    assert http.get("/healthz").json()["alerts"]["holder"] == "r2", "asked on every request"


def test_unknown_routes_and_methods_answer_json(serve: Serve) -> None:
    http = serve(MemoryStore())
    assert_error(http.get("/api/v2/metrics"), 404, "NOT_FOUND")
    assert_error(http.get("/static/missing.js"), 404, "NOT_FOUND")
    not_allowed = assert_error(http.post("/api/v1/metrics"), 405, "METHOD_NOT_ALLOWED")
    assert not_allowed["message"]
    assert "GET" in http.delete("/api/v1/snapshot").headers["allow"]


def test_rate_limit_answers_429_then_recovers(serve: Serve, clock: FakeClock) -> None:
    http = serve(
        MemoryStore(clock=clock.time), rate_limit_per_s=1.0, rate_limit_burst=2.0, clock=clock.time
    )
    assert http.get("/api/v1/snapshot").status_code == 200
    assert http.get("/api/v1/metrics").status_code == 200
    limited = http.get("/api/v1/snapshot")
    body = assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
    assert limited.headers["retry-after"] == "1"
    assert body["details"] == {
        "limit": 1.0,
        "window": "1s",
        "retryAfter": 1,
        "suggestion": "Poll less often, or use /api/v1/stream for live figures",
    }
    assert http.get("/healthz").status_code == 200  # never limited
    clock.advance(1.0)
    assert http.get("/api/v1/snapshot").status_code == 200


def test_a_failing_store_answers_503_and_logs_once(
    serve: Serve, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(clock=clock.time)
    http = serve(store)
    store.broken = True
    with caplog.at_level(logging.INFO, logger="agentguard_service"):
        for path in ("/api/v1/snapshot", "/api/v1/metrics", "/metrics", "/api/v1/snapshot"):
            response = http.get(path)
            assert_error(response, 503, "STORE_UNAVAILABLE")
            assert response.headers["retry-after"] == "5"
            assert "ConnectionError" not in response.text
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1  # one episode, one error line
        store.broken = False
        assert http.get("/api/v1/snapshot").status_code == 200
    assert any("recovered" in r.getMessage() for r in caplog.records)


def _events(lines: Iterator[str], wanted: int) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            found.append((kind, json.loads(line.removeprefix("data: "))))
            if len(found) == wanted:
                break
    return found


def test_the_stream_sends_snapshots(serve: Serve, data: MemoryStore, clock: FakeClock) -> None:
    http = serve(data, clock=clock.time, stream_interval_s=0.02)
    with http.stream("GET", "/api/v1/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = _events(response.iter_lines(), 3)
    assert [kind for kind, _ in events] == ["snapshot"] * 3
    assert {e["total_executions"] for _, e in events} == {6}
    assert http.get("/healthz").status_code == 200  # the server outlives the client leaving


def test_the_stream_reports_a_failing_store_and_goes_on(serve: Serve, clock: FakeClock) -> None:
    store = FlakyStore(clock=clock.time)
    store.broken = True
    http = serve(store, stream_interval_s=0.02)
    with http.stream("GET", "/api/v1/stream") as response:
        lines = response.iter_lines()
        kind, body = _events(lines, 1)[0]
        assert (kind, body["error"]) == ("error", "STORE_UNAVAILABLE")
        store.broken = False
        while kind != "snapshot":
            kind, body = _events(lines, 1)[0]
    assert body["total_executions"] == 0


def test_the_stream_ends_when_the_server_shuts_down(data: MemoryStore) -> None:
    service = MetricsService(create_app(data, rate_limit_per_s=None, stream_interval_s=60.0))
    ended = threading.Event()
    first = threading.Event()

    def listen() -> None:
        with (
            httpx2.Client(base_url=service.url, timeout=30.0) as http,
            http.stream("GET", "/api/v1/stream") as response,
        ):
            for line in response.iter_lines():
                if line.startswith("data: "):
                    first.set()
        ended.set()

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert first.wait(10.0)
    service.close(timeout_s=1.5)  # well within uvicorn's 2 s grace: the stream ended itself
    assert not service.running
    assert ended.wait(5.0)
    reader.join(5.0)


class CountingStore(MemoryStore):
    """A memory store that counts its gauge reads (a snapshot makes a fixed number of them)."""

    gauge_reads = 0

    def gauge(self, *args: Any, **kwargs: Any) -> Any:
        self.gauge_reads += 1
        return super().gauge(*args, **kwargs)


def test_every_stream_shares_one_snapshot_per_tick(serve: Serve, clock: FakeClock) -> None:
    store = CountingStore(clock=clock.time)
    http = serve(store, clock=clock.time, stream_interval_s=0.2, max_streams_per_client=20)
    before = store.gauge_reads
    http.get("/api/v1/snapshot")
    per_snapshot = store.gauge_reads - before
    assert per_snapshot > 0
    clients, received = 10, []
    ready = threading.Barrier(clients)

    def listen() -> None:
        with http.stream("GET", "/api/v1/stream") as response:
            ready.wait(10.0)  # all ten are open before any reads
            received.append(_events(response.iter_lines(), 4))

    before = store.gauge_reads
    readers = [threading.Thread(target=listen) for _ in range(clients)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(30.0)
    assert len(received) == clients
    assert all(kind == "snapshot" for events in received for kind, _ in events)
    snapshots = (store.gauge_reads - before) / per_snapshot
    # 10 clients x 4 events: one snapshot per tick for all of them (a handful of ticks, more
    # on a loaded machine), where a snapshot per client per tick would make 40 at least.
    assert snapshots <= 15, f"{snapshots:.0f} snapshots computed for 10 clients' 4 events"


def test_a_client_may_hold_only_so_many_streams(serve: Serve, data: MemoryStore) -> None:
    http = serve(data, stream_interval_s=0.05, max_streams_per_client=2)
    with http.stream("GET", "/api/v1/stream") as first:
        first_lines = first.iter_lines()  # kept: a dropped iterator closes the response
        _events(first_lines, 1)
        with http.stream("GET", "/api/v1/stream") as second:
            second_lines = second.iter_lines()
            _events(second_lines, 1)
            refused = http.get("/api/v1/stream", timeout=5.0)
            body = assert_error(refused, 429, "TOO_MANY_STREAMS")
            assert "2 streams" in body["message"]
            assert refused.headers["retry-after"] == "5"
    for _ in range(200):  # the server notices the two leave within a tick or two
        with http.stream("GET", "/api/v1/stream") as again:
            if again.status_code == 200:
                assert _events(again.iter_lines(), 1)[0][0] == "snapshot"
                break
    else:
        raise AssertionError("streams were not given back when their clients left")


def test_idle_connections_are_closed_and_streams_outlive_the_deadlines(data: MemoryStore) -> None:
    limits = ConnectionLimits(header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=0.5)
    app = create_app(data, rate_limit_per_s=None, stream_interval_s=0.1)
    with MetricsService(app, limits=limits) as service:
        idle = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(100)]
        half = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(100)]
        try:
            for sock in half:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            with httpx2.Client(base_url=service.url, timeout=10.0) as http:
                assert http.get("/metrics").status_code == 200  # served among 200 open
                with http.stream("GET", "/api/v1/stream") as response:
                    lines = response.iter_lines()
                    started = time.monotonic()
                    while time.monotonic() - started < 1.5:  # three header deadlines long
                        assert _events(lines, 1)[0][0] == "snapshot"
            answers = []
            for sock in idle + half:  # each closed within its deadline (and a slack)
                sock.settimeout(5.5)
                received = b""
                while chunk := sock.recv(65536):
                    received += chunk
                answers.append(received)
            assert answers[:100] == [b""] * 100
            assert all(a.startswith(b"HTTP/1.1 408") for a in answers[100:])
        finally:
            for sock in idle + half:
                sock.close()


def test_misuse_fails_fast() -> None:
    with pytest.raises(TypeError, match="Store"):
        create_app(object())  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="token"):
        create_app(MemoryStore(), token="")
    with pytest.raises(ValueError, match="rate_limit_per_s"):
        create_app(MemoryStore(), rate_limit_per_s=0)
    with pytest.raises(ValueError, match="stream_interval_s"):
        create_app(MemoryStore(), stream_interval_s=0)
    with pytest.raises(ValueError, match="max_streams_per_client must be >= 1"):
        create_app(MemoryStore(), max_streams_per_client=0)
    with pytest.raises(ValueError, match="budget"):
        create_app(MemoryStore(), budget_usd_per_month=-1.0)


def test_the_service_binds_loopback_and_frees_its_port(data: MemoryStore) -> None:
    with MetricsService(create_app(data)) as service:
        assert service.host == "127.0.0.1"
        assert service.url == f"http://127.0.0.1:{service.port}"
        port = service.port
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0)
