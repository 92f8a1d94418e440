"""``agentguard top``'s screen, rendered from hand-made snapshots without a terminal."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from rich.console import Console

from agentguard_cli._topview import (
    Endpoint,
    NotASnapshot,
    Problem,
    Snapshot,
    TopState,
    rates,
    render,
)
from cli.terminal import endpoint_rows, figures

URL = "http://metrics.example:9464"
WIDTH = 80  # the narrowest terminal the screen is made for
NOW_S = 1000.0

# The snapshot of the metrics package's README.
DOCUMENT: dict[str, object] = {
    "uptime_seconds": 12.5,
    "total_executions": 6,
    "active_executions": 1,
    "error_count": 2,
    "endpoints": {
        "llm:sonnet": {"requests_total": 3, "avg_duration_ms": 1666.7, "p95_duration_ms": 1000.0},
        "tool:search": {"requests_total": 2, "avg_duration_ms": 1000.0, "p95_duration_ms": 500.0},
    },
    "cost_usd_total": 2.125,
    "tokens_total": {
        "input": 3000,
        "output": 200,
        "cache_read": 3000,
        "cache_write_5m": 4000,
        "cache_write_1h": 0,
    },
    "cache_hit_ratio": 0.3,
    "breakers": {"anthropic": "open", "search_api": "half_open", "billing": "closed"},
    "loop_detections": 1,
}


def snapshot(**changes: object) -> Snapshot:
    return replace(Snapshot.from_json(DOCUMENT), **changes)  # type: ignore[arg-type]


def screen(state: TopState, *, now_s: float = NOW_S, max_endpoints: int | None = None) -> str:
    console = Console(record=True, width=WIDTH, file=io.StringIO())
    console.print(render(state, now_s=now_s, max_endpoints=max_endpoints))
    return console.export_text()


def styled(state: TopState) -> str:
    console = Console(record=True, width=WIDTH, color_system="standard", file=io.StringIO())
    console.print(render(state, now_s=NOW_S))
    return console.export_text(styles=True)


def live(*snapshots: Snapshot) -> TopState:
    state = TopState(url=URL)
    for i, s in enumerate(snapshots):
        state = state.with_snapshot(s, source="stream", at_s=NOW_S - len(snapshots) + i + 1)
    return state


def test_the_header_shows_the_snapshots_figures() -> None:
    text = screen(live(snapshot(uptime_s=3725.0)))
    assert figures(text) == {
        "uptime": "1h 02m",
        "executions": "6",
        "active runs": "1",
        "errors": "2",
        "cost": "$2.1250",
        "cache hit ratio": "30.0%",
        "requests/s": "-",  # one snapshot: no rate yet
        "$/h": "-",
    }
    assert f"agentguard top  {URL}  ● live (stream)" in text
    assert "…" not in text  # nothing cut short at 80 columns


def test_endpoints_are_listed_busiest_first_with_their_latencies() -> None:
    endpoints = (
        Endpoint(name="tool:search", requests=2, avg_ms=1000.0, p95_ms=500.0),
        Endpoint(name="llm:sonnet", requests=1234, avg_ms=1666.66, p95_ms=2400.0),
        Endpoint(name="tool:new", requests=0, avg_ms=None, p95_ms=None),
    )
    text = screen(live(snapshot(endpoints=endpoints)))
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert [re.split(r"\s*│\s*", row)[1:-1] for row in rows] == [
        ["llm:sonnet", "1,234", "1,666.7", "2,400.0"],
        ["tool:search", "2", "1,000.0", "500.0"],
        ["tool:new", "0", "-", "-"],
    ]


def test_only_as_many_endpoints_as_asked_and_how_many_more() -> None:
    endpoints = tuple(
        Endpoint(name=f"tool:t{n}", requests=n, avg_ms=1.0, p95_ms=1.0) for n in range(1, 6)
    )
    text = screen(live(snapshot(endpoints=endpoints)), max_endpoints=2)
    assert "tool:t5" in text
    assert "tool:t4" in text
    assert "tool:t3" not in text
    assert "… 3 more" in text


def test_breakers_tokens_and_loops_are_shown() -> None:
    text = screen(live(snapshot()))
    assert re.search(r"anthropic\s+open\s+input\s+3,000\s+1\s*$", text, re.M), text
    assert re.search(r"billing\s+closed\s+output\s+200\s*$", text, re.M), text
    assert re.search(r"search_api\s+half_open\s+cache_read\s+3,000\s*$", text, re.M), text
    assert re.search(r"cache_write_5m\s+4,000\s*$", text, re.M), text


def test_breaker_states_are_colored() -> None:
    text = styled(live(snapshot()))
    assert re.search(r"anthropic +\x1b\[1;31mopen", text)  # bold red
    assert re.search(r"search_api +\x1b\[33mhalf_open", text)  # yellow
    assert re.search(r"billing +\x1b\[32mclosed", text)  # green


def test_rates_come_from_successive_snapshots() -> None:
    first = snapshot(uptime_s=100.0, executions=100, cost_usd=1.0)
    second = snapshot(uptime_s=105.0, executions=110, cost_usd=1.25)
    third = snapshot(uptime_s=110.0, executions=150, cost_usd=1.5)
    shown = figures(screen(live(first, second, third)))
    assert shown["requests/s"] == "5.00"  # 50 calls in 10 s
    assert shown["$/h"] == "$180.0000"  # $0.50 in 10 s


def test_rates_are_taken_over_the_last_ten_seconds_of_uptime() -> None:
    old = snapshot(uptime_s=100.0, executions=0, cost_usd=0.0)
    recent = snapshot(uptime_s=200.0, executions=1000, cost_usd=10.0)
    latest = snapshot(uptime_s=202.0, executions=1004, cost_usd=10.0)
    state = live(old, recent, latest)
    assert state.history == (recent, latest)
    shown = figures(screen(state))
    assert shown["requests/s"] == "2.00"
    assert shown["$/h"] == "$0.0000"


def test_a_restarted_service_starts_its_rates_afresh() -> None:
    before = snapshot(uptime_s=500.0, executions=900)
    after = snapshot(uptime_s=3.0, executions=12)
    state = live(before, after)
    assert state.history == (after,)
    assert rates(state.history) is None
    assert figures(screen(state))["executions"] == "12"


def test_an_unreachable_service_is_said_with_the_countdown_and_the_last_figures() -> None:
    problem = Problem(
        message=f"cannot reach {URL}", detail="connection refused", retry_at_s=NOW_S + 2.2
    )
    state = live(snapshot()).with_problem(problem)
    text = screen(state)
    assert f"cannot reach {URL} — retrying in 3s\n  connection refused\n" in text
    assert "● disconnected" in text
    assert "last snapshot 0s ago" in text
    assert figures(text)["executions"] == "6"  # the last figures stay, dimmed
    later = screen(state, now_s=NOW_S + 2.5)
    assert f"cannot reach {URL} — retrying now" in later
    assert "last snapshot 2s ago" in later


def test_before_any_snapshot_only_the_problem_is_shown() -> None:
    problem = Problem(message=f"cannot reach {URL}", detail="timed out", retry_at_s=NOW_S + 8)
    text = screen(TopState(url=URL).with_problem(problem))
    assert f"cannot reach {URL} — retrying in 8s\n  timed out\n" in text
    assert "executions" not in text


def test_waiting_for_the_first_snapshot() -> None:
    text = screen(TopState(url=URL))
    assert "○ connecting" in text
    assert f"waiting for the first snapshot from {URL}" in text


def test_a_store_failure_keeps_the_stream_live_and_says_so() -> None:
    problem = Problem(message="the service cannot read its store", detail="the store failed")
    text = screen(live(snapshot()).with_problem(problem))
    assert "● live (stream)" in text
    assert "the service cannot read its store\n  the store failed\n" in text
    assert "retrying" not in text


def test_a_new_snapshot_clears_the_problem() -> None:
    state = live(snapshot()).with_problem(Problem(message="cannot reach", retry_at_s=NOW_S))
    state = state.with_snapshot(snapshot(uptime_s=20.0), source="polling", at_s=NOW_S)
    text = screen(state)
    assert "cannot reach" not in text
    assert "● live (polling)" in text


def test_the_documented_snapshot_is_read() -> None:
    s = Snapshot.from_json(DOCUMENT)
    assert (s.executions, s.active_runs, s.errors, s.loop_detections) == (6, 1, 2, 1)
    assert s.cost_usd == 2.125
    assert s.cache_hit_ratio == 0.3
    assert s.tokens["cache_write_5m"] == 4000
    assert s.breakers == {"anthropic": "open", "search_api": "half_open", "billing": "closed"}
    assert s.endpoints[0] == Endpoint(name="llm:sonnet", requests=3, avg_ms=1666.7, p95_ms=1000.0)


def test_nulls_where_the_service_has_no_value_yet() -> None:
    document = {**DOCUMENT, "cache_hit_ratio": None, "endpoints": {}}
    s = Snapshot.from_json(document)
    assert s.cache_hit_ratio is None
    text = screen(live(s))
    assert figures(text)["cache hit ratio"] == "-"
    assert "no calls yet" in text


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"total_executions": None}, "total_executions"),
        ({"error_count": "2"}, "error_count"),
        ({"active_executions": True}, "active_executions"),
        ({"cost_usd_total": float("nan")}, "cost_usd_total"),
        ({"breakers": {"anthropic": 2}}, "breakers.anthropic"),
        ({"endpoints": {"llm:x": {"requests_total": 1}}}, "avg_duration_ms"),
        ({"tokens_total": []}, "tokens_total"),
    ],
)
def test_a_document_that_is_not_a_snapshot_is_refused_naming_the_field(
    change: dict[str, object], named: str
) -> None:
    with pytest.raises(NotASnapshot, match=re.escape(named)):
        Snapshot.from_json({**DOCUMENT, **change})


def test_a_list_is_not_a_snapshot() -> None:
    with pytest.raises(NotASnapshot, match="the snapshot is not a JSON object"):
        Snapshot.from_json([DOCUMENT])


def test_a_long_endpoint_name_is_abbreviated_never_a_number() -> None:
    long_name = Endpoint(
        name="tool:" + "a_very_long_tool_name_" * 4,
        requests=1_234_567,
        avg_ms=12_345.6,
        p95_ms=123_456.7,
    )
    text = screen(live(snapshot(endpoints=(long_name,))))
    assert all(len(line) <= WIDTH for line in text.splitlines())
    (row,) = endpoint_rows(text)
    assert row[0].startswith("tool:a_very_long") and row[0].endswith("…")
    assert row[1:] == ["1,234,567", "12,345.6", "123,456.7"]
