"""The dashboard page in headless Chromium against a real service over a busy hour of data.

What a user would see: the tiles say what the snapshot says, every chart has drawn marks,
the page makes no request but to the service and logs no error, dark mode is dark, the
token works from the URL fragment and is asked for when missing, and a lost stream is
shown and reconnected. Screenshots are kept (see ``support.artifacts``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from agentguard.events import LLMCallFinished
from agentguard_metrics import Aggregator, MemoryStore
from agentguard_service import MetricsService, create_app
from service import busy
from support import artifacts
from support.browser import PageWatch, launch

TOKEN = "dash-s3cret"
NO_DATA = "\N{EN DASH}"  # what a figure reads before there is one
WAIT_MS = 15_000  # a bound on every wait for the browser, never a sleep

OpenPage = Callable[..., tuple[Page, PageWatch]]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def store() -> MemoryStore:
    """The busy hour, ending now (read-only for every test of this module)."""
    return busy.build(time.time())


@pytest.fixture
def open_page(
    playwright: Playwright, binary: Callable[[str, str], str], tmp_path: Path
) -> Iterator[OpenPage]:
    """``open_page(url, color_scheme=...)``: a fresh Chromium profile, a page, its watch."""
    chromium = binary("chromium", "chromium")
    contexts: list[BrowserContext] = []

    def start(url: str, **options: Any) -> tuple[Page, PageWatch]:
        options.setdefault("viewport", {"width": 1440, "height": 900})
        context = launch(
            playwright,
            chromium,
            tmp_path / f"profile-{len(contexts)}",
            locale="en-US",
            timezone_id="UTC",
            **options,
        )
        contexts.append(context)
        page = context.new_page()
        origin = url.split("/", 3)
        watch = PageWatch(f"{origin[0]}//{origin[2]}").attach(page)
        page.goto(url)
        return page, watch

    yield start
    for context in contexts:
        context.close()


def snapshot(url: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    document: dict[str, Any] = httpx2.get(f"{url}/api/v1/snapshot", headers=headers).json()
    return document


def query(url: str, **params: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx2.get(f"{url}/api/v1/metrics", params=params).json()
    return document


def tile(page: Page, name: str) -> tuple[str, str]:
    node = page.locator(f'[data-tile="{name}"]')
    return node.locator(".value").inner_text(), node.locator(".sub").inner_text()


def wait_for_data(page: Page) -> None:
    """Until the stream is live and the charts are drawn."""
    expect(page.locator("#live")).to_have_text("Live", timeout=WAIT_MS)
    expect(page.locator("#card-requests svg .area").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#card-insights li").first).to_be_visible(timeout=WAIT_MS)


def marks(page: Page, card: str, selector: str) -> int:
    return page.locator(f"#card-{card} {selector}").count()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_shows_the_service_s_figures(
    store: MemoryStore, open_page: OpenPage, scheme: str
) -> None:
    with MetricsService(create_app(store, budget_usd_per_month=300.0)) as service:
        page, watch = open_page(f"{service.url}/", color_scheme=scheme)
        wait_for_data(page)
        now = snapshot(service.url)
        window = query(service.url, timeframe="1h", aggregation="p95")

        # The tiles say what the snapshot says, in the units people read.
        assert tile(page, "calls")[0] == f"{now['total_executions']:,}"
        assert tile(page, "active")[0] == f"{now['active_executions']:,}" == "2"
        assert tile(page, "errors")[0] == f"{now['error_count']:,}"
        share = 100 * now["error_count"] / now["total_executions"]
        assert tile(page, "errors")[1] == f"{share:.1f}% of calls"
        assert tile(page, "cost")[0] == f"${now['cost_usd_total']:,.2f}"
        assert tile(page, "cache")[0] == f"{100 * now['cache_hit_ratio']:.1f}%"
        assert tile(page, "loops")[0] == str(now["loop_detections"]) == "3"
        assert now["breakers"] == {"anthropic": "closed", "web-fetch": "open"}
        assert tile(page, "breakers") == ("1 open", "of 2")
        assert tile(page, "alerts") == ("1", "CostBurnRate")
        assert page.locator('[data-tile="breakers"]').get_attribute("data-tone") == "bad"
        agents = page.locator("#agent option").all_inner_texts()
        assert (
            agents
            == ["All agents", *now["agents"]]
            == ["All agents", "billing", "research", "support"]
        )

        # Every chart has drawn marks from the window's data.
        assert marks(page, "requests", "svg path.area") == 2  # all calls, failed calls
        assert marks(page, "latency", "svg path.line") == 3  # p50, p95, p99
        models = [m["model"] for m in window["costs"]["models"]]
        assert len(models) == 3
        assert marks(page, "cost", "svg rect.bar") > 30
        assert page.locator("#card-cost .legend-item > span").all_inner_texts() == models
        assert marks(page, "tokens", "svg path.area") == 3  # one per model
        spent = [v for v in window["costs"]["breakdown"]["byTokenType"].values() if v > 0]
        assert marks(page, "breakdown", "svg path.slice") == len(spent)
        assert marks(page, "cache", "svg path.line") == 1
        assert marks(page, "errors", ".bars li") == len(window["errors"]["breakdown"]["byKind"])
        assert page.locator("#card-breakers .pill").all_inner_texts() == ["closed", "open"]
        assert page.locator("#card-loops .bar-name").all_inner_texts() == ["search", "fetch_url"]
        alerts = page.locator("#card-alerts li").all_inner_texts()
        assert len(alerts) == 1 + len(window["alerts"]["recent"])  # firing now, then changes
        assert "CostBurnRate" in alerts[0] and "firing" in alerts[0]
        endpoints = window["performance"]["endpoints"]
        assert marks(page, "endpoints", "tbody tr") == len(endpoints) == 7
        busiest = max(endpoints, key=lambda e: e["requests"])
        first_row = page.locator("#card-endpoints tbody tr").first.inner_text()
        assert busiest["endpoint"].split(":", 1)[1] in first_row
        assert f"{busiest['requests']:,}" in first_row
        findings = window["insights"]["findings"]
        assert findings
        assert marks(page, "insights", "li") == len(findings)
        assert page.locator("#banner").is_hidden()

        # Dark mode is dark, light mode is light.
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        red = int(background.split("(")[1].split(",")[0])
        assert (red < 60) if scheme == "dark" else (red > 200), background

        shot = artifacts.keep(f"dashboard-{scheme}.png")
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 50_000
        watch.assert_clean()


def test_the_agent_and_time_window_drive_the_charts(
    store: MemoryStore, open_page: OpenPage
) -> None:
    with MetricsService(create_app(store)) as service:
        page, watch = open_page(f"{service.url}/")
        wait_for_data(page)
        with page.expect_request(lambda r: "agent=billing" in r.url, timeout=WAIT_MS):
            page.select_option("#agent", "billing")
        billing = query(service.url, timeframe="1h", agent="billing")
        only_haiku = ["claude-haiku-4-5"]
        assert [m["model"] for m in billing["costs"]["models"]] == only_haiku
        expect(page.locator("#card-cost .legend-item > span")).to_have_text(
            only_haiku, timeout=WAIT_MS
        )
        with page.expect_request(lambda r: "timeframe=6h" in r.url, timeout=WAIT_MS):
            page.click('#timeframe button[data-timeframe="6h"]')
        expect(page.locator("#updated")).to_contain_text("5 min steps", timeout=WAIT_MS)
        assert page.url.endswith("#timeframe=6h&agent=billing")  # a view that can be shared
        watch.assert_clean()


def test_the_tiles_follow_the_stream(open_page: OpenPage) -> None:
    store = MemoryStore()
    aggregator = Aggregator(store, process_id="live")

    def calls(n: int) -> None:
        for _ in range(n):
            aggregator.record(
                LLMCallFinished(model="claude-haiku-4-5", agent="support", duration_s=0.4)
            )
        assert aggregator.flush(5.0)

    calls(5)
    with MetricsService(create_app(store)) as service:
        page, watch = open_page(f"{service.url}/")
        calls_tile = page.locator('[data-tile="calls"]')
        expect(calls_tile.locator(".value")).to_have_text("5", timeout=WAIT_MS)
        calls(1_200)  # no reload: the next snapshot of the stream brings them
        expect(calls_tile.locator(".value")).to_have_text("1,205", timeout=WAIT_MS)
        expect(calls_tile.locator(".sub")).to_have_text(re.compile(r"^[1-9][\d.,]*/s now$"))
        watch.assert_clean()


def test_an_empty_service_says_no_data_yet(open_page: OpenPage) -> None:
    with MetricsService(create_app(MemoryStore())) as service:
        page, watch = open_page(f"{service.url}/")
        expect(page.locator("#live")).to_have_text("Live", timeout=WAIT_MS)
        expect(page.locator("#card-requests .empty")).to_contain_text(
            "No calls yet", timeout=WAIT_MS
        )
        assert tile(page, "calls")[0] == "0"
        assert tile(page, "cache")[0] == NO_DATA  # no input yet: no ratio, not 0 %
        for card in ("latency", "tokens", "cost", "breakdown", "errors", "breakers", "alerts"):
            assert marks(page, card, ".empty") == 1, card
        watch.assert_clean()


def test_the_token_comes_from_the_fragment_and_stays_out_of_urls(
    store: MemoryStore, open_page: OpenPage
) -> None:
    with MetricsService(create_app(store, token=TOKEN)) as service:
        page, watch = open_page(f"{service.url}/#token={TOKEN}")
        wait_for_data(page)
        assert tile(page, "calls")[0] == f"{snapshot(service.url, TOKEN)['total_executions']:,}"
        assert TOKEN not in page.url  # taken out of the address bar at once
        assert [url for url in watch.requests if TOKEN in url] == []
        assert page.locator("#token-dialog").is_hidden()
        watch.assert_clean()


def test_without_the_token_the_page_asks_for_it(store: MemoryStore, open_page: OpenPage) -> None:
    with MetricsService(create_app(store, token=TOKEN)) as service:
        page, watch = open_page(f"{service.url}/")
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#live")).to_have_text("Token needed")
        assert tile(page, "calls")[0] == NO_DATA  # nothing shown without the token
        page.fill("#token-input", "not-the-token")
        page.click("#token-form button[type=submit]")
        expect(page.locator("#token-reason")).to_contain_text("refused", timeout=WAIT_MS)
        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        wait_for_data(page)
        assert dialog.is_hidden()
        assert tile(page, "calls")[0] == f"{snapshot(service.url, TOKEN)['total_executions']:,}"
        assert {r.split(" ")[0] for r in watch.error_responses} == {"401"}


def test_a_lost_stream_is_shown_and_reconnected(store: MemoryStore, open_page: OpenPage) -> None:
    service = MetricsService(create_app(store))
    port = service.port
    try:
        page, _ = open_page(f"{service.url}/")
        wait_for_data(page)
        service.close()
        expect(page.locator("#live")).to_contain_text("Disconnected", timeout=WAIT_MS)
        expect(page.locator("#tiles")).to_have_class("tiles stale")
        service = MetricsService(create_app(store), port=port)
        expect(page.locator("#live")).to_have_text("Live", timeout=WAIT_MS)
        expect(page.locator("#tiles")).to_have_class("tiles")
    finally:
        service.close()


def test_an_agent_the_store_never_saw_is_named_not_drawn_as_zeros(open_page: OpenPage) -> None:
    store = MemoryStore()
    with MetricsService(create_app(store)) as service:
        page, watch = open_page(f"{service.url}/#agent=nobody")
        expect(page.locator("#banner")).to_contain_text(
            'No data for agent "nobody"', timeout=WAIT_MS
        )
        watch.assert_clean()
