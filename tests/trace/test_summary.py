from __future__ import annotations

import csv
import io
import json
import math
import threading
from pathlib import Path
from typing import Any, TypedDict

import numpy
import pytest

from agentguard import Bus, Subscriber
from agentguard.events import (
    BudgetExceeded,
    ErrorClassified,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard_trace import (
    CSV_COLUMNS,
    ContextSize,
    SessionRecorder,
    SessionSummary,
    SlowStep,
    TokenCounts,
    print_summary,
)
from agentguard_trace import summary as summary_module
from support.api import assert_all_is_public_api

MODEL = "claude-sonnet-4-5"


class Run(TypedDict):
    run_id: str
    agent: str
    session_id: str


RUN: Run = {"run_id": "run-0001", "agent": "support", "session_id": "s1"}
WEIRD_TOOL = 'grep "a, b"\nthen sort'


def llm(at: float, duration: float, **fields: Any) -> LLMCallFinished:
    values: dict[str, Any] = {"model": MODEL, **RUN, **fields}
    return LLMCallFinished(at_unix_s=at, duration_s=duration, **values)


def tool(at: float, duration: float, name: str, **fields: Any) -> ToolCallFinished:
    values: dict[str, Any] = {**RUN, **fields}
    return ToolCallFinished(at_unix_s=at, duration_s=duration, tool=name, **values)


def publish_session(bus: Bus) -> None:
    """Six steps over 16 seconds: two LLM calls and four tool calls, one of them failing."""
    bus.publish(RunStarted(at_unix_s=100.0, **RUN))
    bus.publish(
        llm(
            102.0,
            2.0,
            input_tokens=1000,
            output_tokens=500,
            cache_read_tokens=2000,
            cache_write_5m_tokens=400,
            cache_write_1h_tokens=100,
            input_cost_usd=0.003,
            output_cost_usd=0.0075,
            cache_read_cost_usd=0.0006,
            cache_write_5m_cost_usd=0.0015,
            cache_write_1h_cost_usd=0.0006,
            cost_usd=0.0132,
            retries=1,
        )
    )
    bus.publish(tool(103.0, 1.0, "edit_file"))
    bus.publish(tool(106.0, 3.0, "edit_file"))
    bus.publish(tool(112.0, 6.0, "run_tests", ok=False, error_kind="tool_error"))
    bus.publish(
        ErrorClassified(
            at_unix_s=112.0,
            source="tool",
            error_kind="tool_error",
            retryable=False,
            exception_type="subprocess.CalledProcessError",
            **RUN,
        )
    )
    bus.publish(
        LoopDetected(
            at_unix_s=113.0, tool="edit_file", pattern="repeat", repeats=3, action="warn", **RUN
        )
    )
    bus.publish(
        BudgetExceeded(at_unix_s=114.0, scope="run", limit_usd=0.01, spent_usd=0.0132, **RUN)
    )
    bus.publish(
        llm(
            115.0,
            1.5,
            input_tokens=200,
            output_tokens=100,
            cache_read_tokens=3000,
            input_cost_usd=0.0006,
            output_cost_usd=0.0015,
            cache_read_cost_usd=0.0009,
            cache_write_5m_cost_usd=0.0,
            cache_write_1h_cost_usd=0.0,
            cost_usd=0.003,
        )
    )
    bus.publish(tool(115.5, 0.5, "read_file"))
    bus.publish(RunFinished(at_unix_s=116.0, duration_s=16.0, ok=True, cost_usd=0.0162, **RUN))


@pytest.fixture
def bus() -> Bus:
    return Bus(name="test")


@pytest.fixture
def recorder(bus: Bus) -> SessionRecorder:
    recorder = SessionRecorder(bus)
    recorder.attach()
    return recorder


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(summary_module)


def test_recorder_follows_the_subscriber_protocol(bus: Bus) -> None:
    recorder = SessionRecorder(bus)
    assert isinstance(recorder, Subscriber)
    subscription = recorder.attach()
    with pytest.raises(RuntimeError, match="already attached"):
        recorder.attach()
    bus.publish(tool(1.0, 1.0, "a"))
    recorder.close()
    assert subscription.closed
    bus.publish(tool(2.0, 1.0, "a"))
    recorder.close()
    assert recorder.summary().steps == 1  # closing stops recording but keeps the record
    with recorder:
        bus.publish(tool(3.0, 1.0, "a"))
    bus.publish(tool(4.0, 1.0, "a"))
    assert recorder.summary().steps == 2


def slow(step: int, kind: Any, name: str, duration: float, at: float) -> SlowStep:
    return SlowStep(
        step=step, kind=kind, name=name, duration_s=duration, run_id="run-0001", at_unix_s=at
    )


def test_session_numbers(bus: Bus, recorder: SessionRecorder) -> None:
    publish_session(bus)
    s = recorder.summary()

    assert (s.started_at_unix_s, s.ended_at_unix_s, s.duration_s) == (100.0, 116.0, 16.0)
    assert (s.runs.total, s.runs.succeeded, s.runs.failed, s.runs.unfinished) == (1, 1, 0, 0)
    assert (s.steps, s.llm_calls, s.tool_calls, s.ok_steps, s.failed_steps) == (6, 2, 4, 5, 1)
    assert s.success_rate == pytest.approx(5 / 6)
    assert s.step_time.avg_s == pytest.approx(14.0 / 6)
    # Linear interpolation, numpy's default: [0.5, 1, 1.5, 2, 3, 6].
    assert (s.step_time.p50_s, s.step_time.p95_s, s.step_time.max_s) == (1.75, 5.25, 6.0)
    durations = [2.0, 1.0, 3.0, 6.0, 1.5, 0.5]
    assert s.step_time.p50_s == pytest.approx(numpy.percentile(durations, 50))
    assert s.step_time.p95_s == pytest.approx(numpy.percentile(durations, 95))
    assert s.step_time.total_s == 14.0

    tools = {t.tool: t for t in s.tools}
    assert [t.tool for t in s.tools] == ["edit_file", "read_file", "run_tests"]
    edit = tools["edit_file"]
    assert (edit.calls, edit.ok_calls, edit.avg_s, edit.max_s, edit.total_s) == (
        2,
        2,
        2.0,
        3.0,
        4.0,
    )
    assert edit.success_rate == 1.0
    assert (tools["run_tests"].calls, tools["run_tests"].success_rate) == (1, 0.0)
    assert (tools["read_file"].avg_s, tools["read_file"].max_s) == (0.5, 0.5)

    (model,) = s.models
    assert (model.model, model.calls, model.ok_calls, model.retries) == (MODEL, 2, 2, 1)
    assert (model.avg_s, model.max_s, model.total_s) == (1.75, 2.0, 3.5)
    assert model.tokens == s.tokens
    assert s.tokens == TokenCounts(
        input_tokens=1200,
        output_tokens=600,
        cache_read_tokens=5000,
        cache_write_5m_tokens=400,
        cache_write_1h_tokens=100,
    )
    assert s.tokens.total_tokens == 7300
    cost = s.cost
    assert (cost.input_usd, cost.output_usd, cost.cache_read_usd) == (0.0036, 0.009, 0.0015)
    assert (cost.cache_write_5m_usd, cost.cache_write_1h_usd, cost.other_usd) == (0.0015, 0.0006, 0)
    assert cost.known_usd == cost.total_usd == 0.0162
    assert (cost.priced_calls, cost.unpriced_calls) == (2, 0)
    assert model.cost == cost
    # Context size: every input token of a call (3,500 then 3,200).
    assert numpy.percentile([3500, 3200], 95) == pytest.approx(3485.0)
    assert s.context == (
        ContextSize(
            agent="support",
            model=MODEL,
            calls=2,
            current_tokens=3200,
            max_tokens=3500,
            p95_tokens=3485.0,  # numpy.percentile([3500, 3200], 95)
        ),
    )

    assert s.retries == 1
    assert [(e.source, e.error_kind, e.count) for e in s.errors] == [("tool", "tool_error", 1)]
    assert (s.budget_exceeded, s.loops_detected) == (1, 1)
    assert s.slowest == (
        slow(4, "tool", "run_tests", 6.0, 112.0),
        slow(3, "tool", "edit_file", 3.0, 106.0),
        slow(1, "llm", MODEL, 2.0, 102.0),
        slow(5, "llm", MODEL, 1.5, 115.0),
        slow(2, "tool", "edit_file", 1.0, 103.0),
    )
    assert (s.steps_recorded, s.steps_dropped, s.invalid_values) == (6, 0, 0)


def test_render_shows_the_session_in_aligned_blocks(bus: Bus, recorder: SessionRecorder) -> None:
    publish_session(bus)
    lines = recorder.summary().render().splitlines()

    assert lines[:2] == ["Session Performance Summary", "==========================="]
    for expected in (
        "Duration:         16.00s",
        "Runs:             1 (1 succeeded, 0 failed)",
        "Steps:            6 (2 LLM calls, 4 tool calls, 1 failed)",
        "Success rate:     83.3%",
        "Avg step time:    2.33s (p50 1.75s, p95 5.25s; max 6.00s)",
        "Cost:             $0.0162",
        "Budget crossings: 1",
        "  agent    model              calls  current    max    p95",
        "  support  claude-sonnet-4-5      2    3,200  3,500  3,485",
        "  tool       calls      ok     avg     max   total",
        "  edit_file      2  100.0%   2.00s   3.00s   4.00s",
        "  read_file      1  100.0%  0.500s  0.500s  0.500s",
        "  run_tests      1    0.0%   6.00s   6.00s   6.00s",
        "  token type       tokens     cost",
        "  Input             1,200  $0.0036",
        "  Output              600  $0.0090",
        "  Cache reads       5,000  $0.0015",
        "  Cache writes 5m     400  $0.0015",
        "  Cache writes 1h     100  $0.0006",
        "  Total             7,300  $0.0162",
        "  1. Step 4: tool run_tests (6.00s, run run-0001)",
        "  5. Step 2: tool edit_file (1.00s, run run-0001)",
    ):
        assert expected in lines


def test_print_summary_takes_a_recorder_or_a_summary(bus: Bus, recorder: SessionRecorder) -> None:
    publish_session(bus)
    from_recorder, from_summary = io.StringIO(), io.StringIO()
    print_summary(recorder, file=from_recorder)
    print_summary(recorder.summary(), file=from_summary)
    assert from_recorder.getvalue() == from_summary.getvalue() == recorder.summary().render() + "\n"
    with pytest.raises(TypeError, match="SessionRecorder or a SessionSummary"):
        print_summary({"steps": 1}, file=io.StringIO())  # type: ignore[arg-type]  # the misuse under test


def test_unpriced_call_makes_the_total_unknown_not_zero(
    bus: Bus, recorder: SessionRecorder
) -> None:
    bus.publish(
        llm(
            10.0,
            1.0,
            input_tokens=100,
            input_cost_usd=0.0003,
            output_cost_usd=0.0,
            cache_read_cost_usd=0.0,
            cache_write_5m_cost_usd=0.0,
            cache_write_1h_cost_usd=0.0,
            cost_usd=0.0003,
        )
    )
    bus.publish(llm(11.0, 1.0, model="mystery-model", input_tokens=50))
    s = recorder.summary()

    assert s.cost.total_usd is None
    assert (s.cost.known_usd, s.cost.priced_calls, s.cost.unpriced_calls) == (0.0003, 1, 1)
    mystery = next(m for m in s.models if m.model == "mystery-model")
    assert mystery.cost.total_usd is None
    assert mystery.tokens.input_tokens == 50
    lines = s.render().splitlines()
    assert "Cost:          unknown + $0.0003" in lines
    assert "  Total               150  unknown + $0.0003" in lines
    assert "  1 unpriced call: their cost is unknown, not $0" in lines
    assert any(line.startswith("  mystery-model") and line.endswith("  unknown") for line in lines)
    assert "$0.0000" not in "\n".join(line for line in lines if "Total" in line)


def test_components_missing_from_a_priced_call_go_to_other(
    bus: Bus, recorder: SessionRecorder
) -> None:
    bus.publish(llm(1.0, 1.0, input_cost_usd=0.01, cost_usd=0.03))
    cost = recorder.summary().cost
    assert (cost.input_usd, cost.other_usd, cost.known_usd, cost.total_usd) == (
        0.01,
        0.02,
        0.03,
        0.03,
    )
    assert "  Other                    $0.0200" in recorder.summary().render().splitlines()


def test_dollars_add_up_exactly(bus: Bus, recorder: SessionRecorder) -> None:
    for i in range(1000):
        bus.publish(
            llm(
                float(i),
                0.1,
                input_cost_usd=0.1,
                output_cost_usd=0.2,
                cache_read_cost_usd=0.01,
                cache_write_5m_cost_usd=0.0,
                cache_write_1h_cost_usd=0.0,
                cost_usd=0.31,
            )
        )
    cost = recorder.summary().cost
    assert sum([0.1] * 1000) != 100.0  # the float trap the recorder must avoid
    assert (cost.input_usd, cost.output_usd, cost.cache_read_usd) == (100.0, 200.0, 10.0)
    assert cost.total_usd == 310.0
    parts = [
        cost.input_usd,
        cost.output_usd,
        cost.cache_read_usd,
        cost.cache_write_5m_usd,
        cost.cache_write_1h_usd,
        cost.other_usd,
    ]
    assert round(math.fsum(parts), 2) == round(cost.known_usd, 2)


def test_csv_has_one_row_per_step_and_escapes_names(
    bus: Bus, recorder: SessionRecorder, tmp_path: Path
) -> None:
    publish_session(bus)
    bus.publish(tool(117.0, 0.25, WEIRD_TOOL))
    path = tmp_path / "steps.csv"
    recorder.export_csv(path)

    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == 7
    assert [row["name"] for row in rows] == [
        MODEL,
        "edit_file",
        "edit_file",
        "run_tests",
        MODEL,
        "read_file",
        WEIRD_TOOL,
    ]
    first, failed, weird = rows[0], rows[3], rows[6]
    assert first == {
        "step": "1",
        "at_unix_s": "102.0",
        "kind": "llm",
        "name": MODEL,
        "run_id": "run-0001",
        "agent": "support",
        "session_id": "s1",
        "duration_s": "2.0",
        "ok": "true",
        "error_kind": "",
        "input_tokens": "1000",
        "output_tokens": "500",
        "cache_read_tokens": "2000",
        "cache_write_5m_tokens": "400",
        "cache_write_1h_tokens": "100",
        "cost_usd": "0.0132",
        "retries": "1",
        "thinking_tokens": "0",
        "web_search_requests": "0",
        "web_fetch_requests": "0",
        "service_tier": "",
        "cost_complete": "true",
        "unpriced": "",
        "context_tokens": "3500",
        "cache_saved_usd": "",
    }
    assert (failed["kind"], failed["ok"], failed["error_kind"], failed["cost_usd"]) == (
        "tool",
        "false",
        "tool_error",
        "",
    )
    assert (weird["duration_s"], weird["step"]) == ("0.25", "7")


def test_csv_to_an_open_file(bus: Bus, recorder: SessionRecorder) -> None:
    bus.publish(tool(1.0, 1.0, "a,b"))
    out = io.StringIO(newline="")
    recorder.export_csv(out)
    assert out.getvalue().splitlines()[1].startswith('1,1.0,tool,"a,b",')


def test_json_holds_the_summary_and_every_step(
    bus: Bus, recorder: SessionRecorder, tmp_path: Path
) -> None:
    publish_session(bus)
    bus.publish(tool(117.0, 0.25, WEIRD_TOOL))
    path = tmp_path / "session.json"
    recorder.export_json(path)

    document = json.loads(path.read_text(encoding="utf-8"))
    summary = recorder.summary()
    assert (document["format"], document["version"]) == ("agentguard.session_summary", 1)
    assert document["summary"] == summary.to_dict()
    assert document["summary"]["cost"]["total_usd"] == 0.0162
    assert document["summary"]["success_rate"] == pytest.approx(6 / 7)
    assert document["summary"]["tools"][0]["tool"] == "edit_file"
    assert document["steps"] == [row.to_dict() for row in recorder.steps()]
    assert len(document["steps"]) == 7
    assert document["steps"][-1]["name"] == WEIRD_TOOL
    assert document["steps"][3]["cost_usd"] is None


def test_filters_to_one_session(bus: Bus) -> None:
    recorder = SessionRecorder(bus, session_id="s1")
    recorder.attach()
    other: Run = {"run_id": "run-2", "agent": "support", "session_id": "s2"}
    publish_session(bus)
    bus.publish(RunStarted(at_unix_s=50.0, **other))
    bus.publish(ToolCallFinished(at_unix_s=200.0, duration_s=9.0, tool="elsewhere", **other))
    bus.publish(ToolCallFinished(at_unix_s=201.0, duration_s=9.0, tool="no_run"))
    s = recorder.summary()
    assert s.session_id == "s1"
    assert (s.steps, s.runs.total, s.duration_s) == (6, 1, 16.0)
    assert "elsewhere" not in {t.tool for t in s.tools}
    assert {row.session_id for row in recorder.steps()} == {"s1"}


def test_rows_past_max_steps_are_counted_not_kept(bus: Bus) -> None:
    recorder = SessionRecorder(bus, max_steps=2, slowest=2)
    recorder.attach()
    for i, duration in enumerate([1.0, 2.0, 5.0, 3.0, 4.0]):
        bus.publish(tool(float(i + 10), duration, "t"))
    s = recorder.summary()
    assert (s.steps, s.steps_recorded, s.steps_dropped) == (5, 2, 3)
    assert (s.tools[0].calls, s.tools[0].total_s, s.tools[0].max_s) == (5, 15.0, 5.0)
    assert s.step_time.avg_s == 3.0
    assert (s.step_time.p50_s, s.step_time.p95_s) == (1.5, 1.95)  # of the kept rows only
    assert [slow.step for slow in s.slowest] == [3, 5]  # the slowest stay exact
    assert [row.step for row in recorder.steps()] == [1, 2]
    out = io.StringIO(newline="")
    recorder.export_csv(out)
    assert len(out.getvalue().splitlines()) == 3
    lines = s.render().splitlines()
    assert "Rows not kept: 3 (past max_steps; aggregates are complete)" in lines
    assert "Avg step time: 3.00s (p50 1.50s, p95 1.95s of the first 2; max 5.00s)" in lines


def test_bad_options_fail_at_once() -> None:
    with pytest.raises(ValueError, match="max_steps must be an int >= 0"):
        SessionRecorder(max_steps=-1)
    with pytest.raises(ValueError, match="slowest must be an int >= 0"):
        SessionRecorder(slowest=1.5)  # type: ignore[arg-type]  # the misuse under test


def test_threads_publishing_at_once_add_up_exactly(bus: Bus, recorder: SessionRecorder) -> None:
    threads, per_thread = 8, 500
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            bus.publish(
                llm(
                    float(i),
                    0.5,
                    input_tokens=3,
                    input_cost_usd=0.001,
                    output_cost_usd=0.002,
                    cache_read_cost_usd=0.0,
                    cache_write_5m_cost_usd=0.0,
                    cache_write_1h_cost_usd=0.0,
                    cost_usd=0.003,
                )
            )
            bus.publish(tool(float(i), 0.25, f"tool-{n % 2}"))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    s = recorder.summary()
    assert bus.subscriber_errors() == {}
    assert (s.steps, s.llm_calls, s.tool_calls) == (8000, 4000, 4000)
    assert s.tokens.input_tokens == 12_000
    assert s.cost.total_usd == 12.0
    assert s.step_time.total_s == 4000 * 0.5 + 4000 * 0.25
    assert sorted((t.tool, t.calls) for t in s.tools) == [("tool-0", 2000), ("tool-1", 2000)]
    assert sorted(row.step for row in recorder.steps()) == list(range(1, 8001))


def test_empty_session_renders_and_exports(recorder: SessionRecorder, tmp_path: Path) -> None:
    s = recorder.summary()
    assert s == SessionSummary()
    assert (s.success_rate, s.step_time.avg_s, s.cost.total_usd) == (None, None, 0.0)
    text = s.render()
    assert "Steps:    0 (no steps recorded)" in text.splitlines()
    assert "Tool usage" not in text
    recorder.export_json(tmp_path / "empty.json")
    assert json.loads((tmp_path / "empty.json").read_text(encoding="utf-8"))["steps"] == []
    recorder.export_csv(tmp_path / "empty.csv")
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8").splitlines() == [
        ",".join(CSV_COLUMNS)
    ]


def test_invalid_values_are_set_aside(bus: Bus, recorder: SessionRecorder, tmp_path: Path) -> None:
    bus.publish(tool(1.0, math.nan, "a"))
    bus.publish(llm(2.0, 1.0, input_cost_usd=math.inf, cost_usd=math.inf))
    s = recorder.summary()
    assert (s.steps, s.invalid_values, s.cost.unpriced_calls) == (2, 3, 1)
    assert s.tools[0].total_s == 0.0
    recorder.export_json(tmp_path / "session.json")  # allow_nan=False: nothing non-finite left
    assert "Invalid values:" in s.render()


def test_reset_forgets_the_record(bus: Bus, recorder: SessionRecorder) -> None:
    publish_session(bus)
    recorder.reset()
    assert recorder.summary() == SessionSummary()
    bus.publish(tool(1.0, 1.0, "a"))
    assert recorder.summary().steps == 1


def test_web_searches_and_incomplete_costs_are_shown_not_hidden(bus: Bus) -> None:
    with SessionRecorder(bus) as recorder:
        bus.publish(
            llm(
                1.0,
                1.0,
                input_tokens=1000,
                output_tokens=100,
                input_cost_usd=0.005,
                output_cost_usd=0.0025,
                web_search_requests=3,
                web_search_cost_usd=0.03,
                cost_usd=0.0375,
            )
        )
        bus.publish(
            llm(
                2.0,
                1.0,
                input_tokens=1000,
                input_cost_usd=0.005,
                output_cost_usd=0.0,
                web_search_cost_usd=0.0,
                cost_usd=0.005,
                service_tier="priority",
                cost_complete=False,
                unpriced="service_tier=priority",
            )
        )
    cost = recorder.summary().cost
    assert cost.web_search_usd == pytest.approx(0.03)
    assert cost.web_search_requests == 3
    assert cost.known_usd == pytest.approx(0.0425)
    assert cost.other_usd == 0.0, "web searches are a component of their own"
    assert (cost.incomplete_calls, cost.left_out) == (1, ("service_tier=priority",))
    out = io.StringIO()
    print_summary(recorder, file=out)
    text = out.getvalue()
    assert "Web search" in text and "3 searches" in text
    assert "1 call priced incompletely: no price for service_tier=priority" in text
    rows = recorder.steps()
    assert (rows[1].service_tier, rows[1].cost_complete, rows[1].unpriced) == (
        "priority",
        False,
        "service_tier=priority",
    )


def test_every_time_in_the_summary_is_in_seconds(bus: Bus, recorder: SessionRecorder) -> None:
    # Issue 16: "Avg step time: 4.05ms (p50 3.19ms, p95 0.01s; max 0.05s)" mixed units.
    for i, duration in enumerate([0.00319, 0.05, 0.0023, 0.000017, 1.5]):
        bus.publish(tool(float(i + 10), duration, "t"))
    text = recorder.summary().render()
    assert "ms" not in text
    assert "Avg step time: 0.311s (p50 0.00319s, p95 1.21s; max 1.50s)" in text.splitlines()
    assert "  t         5  100.0%  0.311s  1.50s  1.56s" in text.splitlines()


def test_a_small_sample_p95_is_not_below_its_mean(bus: Bus, recorder: SessionRecorder) -> None:
    # Issue 16: n=3 with one value far above gave p95 2.9 ms, below the 9.2 ms mean.
    durations = [0.0029, 0.0022, 0.0226]
    for i, duration in enumerate(durations):
        bus.publish(tool(float(i + 10), duration, "t"))
    times = recorder.summary().step_time
    assert times.avg_s is not None and times.p95_s is not None
    assert times.p95_s > times.avg_s
    assert times.p95_s == pytest.approx(numpy.percentile(durations, 95))
