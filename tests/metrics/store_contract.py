"""The contract every :class:`agentguard_metrics.Store` passes.

Run by ``test_store_contract.py`` over the ``store`` and ``store_factory`` fixtures of
``conftest.py``; a new store joins by adding a fixture param there. Stores are written both
by hand-built batches and by :class:`~agentguard_metrics.Aggregator` s, as processes would.
"""

from __future__ import annotations

import math

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.events import (
    BreakerStateChanged,
    LLMCallFinished,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator, Bucket, DeltaBatch, GaugeSet, InvalidBatch, Sketch, Store
from metrics.conftest import StoreFactory

CALLS = "agentguard_llm_calls_total"
DURATION = "agentguard_llm_call_duration_seconds"
TOOLS = "agentguard_tool_calls_total"
RUNNING = "agentguard_runs_in_progress"
BREAKER = "agentguard_breaker_state"
T0 = 1_767_225_600  # FakeClock's start, a whole day


def batch(batch_id: str, at: float = T0, **parts: object) -> DeltaBatch:
    """A batch from ``"process:sequence"``."""
    process_id, sequence = batch_id.rsplit(":", 1)
    return DeltaBatch(
        process_id=process_id,
        sequence=int(sequence),
        sent_at_unix_s=at,
        **parts,  # type: ignore[arg-type]  # the test passes the right mappings
    )


def sketch_of(*values: float) -> Sketch:
    s = Sketch()
    for v in values:
        s.add(v)
    return s


def exact(values: list[float], q: float) -> float:
    """The exact quantile as the sketch defines it: numpy's default, linear interpolation."""
    return float(numpy.percentile(values, q * 100))


class StoreContract:
    """Tests every store must pass. Subclass it in a ``test_`` module to run them."""

    # --- counters ---------------------------------------------------------------------------

    def test_counters_add_across_batches_and_processes(self, store: Store) -> None:
        key = (CALLS, ("m", "ok", ""), T0)
        store.apply(batch("p1:1", counters={key: 2.0}))
        store.apply(batch("p1:2", counters={key: 3.0}))
        store.apply(batch("p2:1", counters={key: 5.5}))
        assert store.counter(CALLS) == 10.5
        assert store.counter(CALLS, {"model": "m", "status": "ok"}) == 10.5

    def test_a_batch_applied_twice_counts_once(self, store: Store) -> None:
        key = (CALLS, ("m", "ok", ""), T0)
        histograms = {(DURATION, ("m", ""), T0): sketch_of(1)}
        same = batch("p1:7", counters={key: 4.0}, histograms=histograms)
        store.apply(same)
        store.apply(same)
        store.apply(batch("p1:7", counters={key: 4.0}))  # the same id made again
        store.apply(batch("p1:3", counters={key: 4.0}))  # an older one: applied before
        assert store.counter(CALLS) == 4.0
        assert store.histogram(DURATION).count == 1
        store.apply(batch("p1:8", counters={key: 1.0}))
        store.apply(batch("p2:1", counters={key: 1.0}))  # sequences are per process
        assert store.counter(CALLS) == 6.0

    @pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e308, 2.0**53 + 2])
    def test_a_batch_out_of_range_is_refused_whole(self, store: Store, bad: float) -> None:
        key = (CALLS, ("m", "ok", ""), T0)
        cost = ("agentguard_llm_cost_usd_total", ("m", "input", ""), T0)
        refused = batch(
            "p1:1",
            counters={key: 2.0, cost: bad},
            histograms={(DURATION, ("m", ""), T0): sketch_of(0.5)},
        )
        with pytest.raises(InvalidBatch, match="p1:1 refused: agentguard_llm_cost_usd_total"):
            store.apply(refused)
        huge = batch("p1:2", histograms={(DURATION, ("m", ""), T0): sketch_of(1e308, 1e308)})
        with pytest.raises(InvalidBatch, match=f"p1:2 refused: {DURATION}"):
            store.apply(huge)  # each observation finite, their sum not
        assert store.counter(CALLS) == 0.0  # none of either was written
        assert store.histogram(DURATION).count == 0
        store.apply(batch("p1:3", counters={key: 3.0}))  # and they left no mark behind
        assert store.counter(CALLS) == 3.0

    def test_label_filters_match_named_labels_only(self, store: Store) -> None:
        store.apply(
            batch(
                "p1:1",
                counters={
                    (CALLS, ("a", "ok", "x"), T0): 1.0,
                    (CALLS, ("a", "error", "y"), T0): 2.0,
                    (CALLS, ("b", "ok", "x"), T0): 4.0,
                },
            )
        )
        assert store.counter(CALLS, {"model": "a"}) == 3.0
        assert store.counter(CALLS, {"status": "ok"}) == 5.0
        assert store.counter(CALLS, {"model": "b", "status": "error"}) == 0.0
        assert store.series(CALLS) == [("a", "error", "y"), ("a", "ok", "x"), ("b", "ok", "x")]
        assert store.counter(CALLS, {"agent": "x"}) == 5.0
        assert store.counter(CALLS, {"agent": "y", "model": "a"}) == 2.0
        with pytest.raises(ValueError, match="no label"):
            store.counter(CALLS, {"tool": "x"})
        with pytest.raises(ValueError, match="unknown metric"):
            store.counter("nope_total")

    def test_every_series_in_one_read(self, store: Store, clock: FakeClock) -> None:
        store.apply(
            batch(
                "p1:1",
                counters={
                    (CALLS, ("a", "ok", "x"), T0): 1.0,
                    (CALLS, ("a", "ok", "x"), T0 + 60): 2.0,
                    (CALLS, ("b", "error", ""), T0 + 60): 4.0,
                },
                histograms={
                    (DURATION, ("a", "x"), T0): sketch_of(1.0),
                    (DURATION, ("a", "x"), T0 + 60): sketch_of(3.0),
                    (DURATION, ("b", ""), T0): sketch_of(2.0),
                },
                gauge_deltas={(RUNNING, ("x",)): 2.0},
                gauge_sets={(BREAKER, ("b", "")): GaugeSet(2.0, T0)},
            )
        )
        assert store.gauges(RUNNING) == {("x",): 2.0}
        assert store.gauges(BREAKER) == {("b", ""): 2.0}
        clock.advance(120)
        assert store.gauges(RUNNING) == {("x",): 0.0}  # its process is silent: not live
        assert store.counters(CALLS) == {("a", "ok", "x"): 3.0, ("b", "error", ""): 4.0}
        assert store.counters(CALLS, start=T0 + 60) == {
            ("a", "ok", "x"): 2.0,
            ("b", "error", ""): 4.0,
        }
        assert store.histograms(DURATION) == {
            ("a", "x"): sketch_of(1.0, 3.0),
            ("b", ""): sketch_of(2.0),
        }
        assert store.histograms(DURATION, end=T0 + 60)[("a", "x")] == sketch_of(1.0)
        assert store.counters(TOOLS) == {}
        with pytest.raises(ValueError, match="unknown metric"):
            store.counters("nope_total")

    # --- time -------------------------------------------------------------------------------

    def test_time_ranges_select_buckets(self, store: Store, clock: FakeClock) -> None:
        key = (CALLS, ("m", "ok", ""))
        store.apply(batch("p1:1", counters={(*key, T0 + 60 * i): float(i + 1) for i in range(5)}))
        clock.advance(300)
        assert store.counter(CALLS, start=T0 + 60, end=T0 + 180) == 2.0 + 3.0
        assert store.counter(CALLS, start=T0 + 90) == 2.0 + 3.0 + 4.0 + 5.0  # floored to 1m
        assert store.counter(CALLS, end=T0 + 120) == 1.0 + 2.0
        buckets = store.buckets(CALLS, None, T0, T0 + 300, 120)
        assert [(b.start_unix_s, b.value) for b in buckets] == [
            (T0, 3.0),
            (T0 + 120, 7.0),
            (T0 + 240, 5.0),
        ]

    def test_histogram_buckets_carry_sketches(self, store: Store, clock: FakeClock) -> None:
        store.apply(
            batch(
                "p1:1",
                histograms={
                    (DURATION, ("m", ""), T0): sketch_of(1.0, 2.0),
                    (DURATION, ("m", ""), T0 + 120): sketch_of(3.0),
                },
            )
        )
        clock.advance(180)
        buckets = store.buckets(DURATION, {"model": "m"}, T0, T0 + 180, 60)
        assert [b.value for b in buckets] == [2.0, 0.0, 1.0]
        first = buckets[0].sketch
        assert first is not None and first.sum == 3.0

    def test_old_data_is_read_from_rollups(self, store: Store, clock: FakeClock) -> None:
        key = (CALLS, ("m", "ok", ""))
        store.apply(batch("p1:1", counters={(*key, T0): 1.0, (*key, T0 + 240): 2.0}))
        clock.advance(26 * 3600)  # past the 24h of 1m and 5m buckets
        store.apply(batch("p1:2", at=clock.time(), counters={(*key, clock.time()): 4.0}))
        assert store.counter(CALLS) == 7.0
        assert store.counter(CALLS, start=T0) == 3.0 + 4.0  # from the 15m roll-up
        assert store.counter(CALLS, start=T0 + 900) == 4.0  # floored to 15m
        assert store.counter(CALLS, start=clock.time() - 60) == 4.0  # from the 1m buckets
        hourly = store.buckets(CALLS, None, T0, T0 + 3 * 3600, 3600)
        assert [b.value for b in hourly] == [3.0, 0.0, 0.0]
        with pytest.raises(ValueError, match="multiple"):
            store.buckets(CALLS, None, T0, T0 + 3600, 300)  # 5m is gone for that start

    # --- histograms -------------------------------------------------------------------------

    def test_histograms_merge_across_batches(self, store: Store) -> None:
        store.apply(batch("p1:1", histograms={(DURATION, ("a", ""), T0): sketch_of(1.0, 2.0)}))
        store.apply(batch("p2:1", histograms={(DURATION, ("b", ""), T0): sketch_of(4.0)}))
        merged = store.histogram(DURATION)
        assert merged == sketch_of(1.0, 2.0, 4.0)
        assert store.histogram(DURATION, {"model": "b"}) == sketch_of(4.0)
        assert store.quantile(DURATION, 1.0) == 4.0
        assert store.quantile(DURATION, 0.5, {"model": "nope"}) is None

    # store_factory only makes stores: each example builds its own, so nothing leaks between them
    @settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        samples=st.lists(
            st.lists(
                st.one_of(st.floats(0.001, 600.0), st.just(0.0)),
                min_size=1,
                max_size=300,
            ),
            min_size=8,
            max_size=8,
        )
    )
    def test_p7_quantiles_merged_over_8_processes_within_1_percent(
        self, store_factory: StoreFactory, samples: list[list[float]]
    ) -> None:
        store = store_factory()
        for i, sample in enumerate(samples):
            aggregator = Aggregator(store, process_id=f"worker-{i}")
            for duration in sample:
                aggregator.record(LLMCallFinished(model="m", duration_s=duration, at_unix_s=T0))
            assert aggregator.flush(1.0)
        union = [v for sample in samples for v in sample]
        for q in (0.5, 0.95, 0.99):
            got = store.quantile(DURATION, q)
            want = exact(union, q)
            assert got is not None
            assert abs(got - want) <= 0.01 * want, (q, got, want)
        assert store.histogram(DURATION).count == len(union)
        assert store.counter(CALLS) == len(union)

    # --- gauges -----------------------------------------------------------------------------

    def test_gauges_add_over_live_processes(self, store: Store, clock: FakeClock) -> None:
        running = (RUNNING, ("agent",))
        now = clock.time()
        store.apply(batch("p1:1", now, gauge_deltas={running: 2.0}))
        store.apply(batch("p2:1", now, gauge_deltas={running: 3.0}))
        store.apply(batch("p2:2", now, gauge_deltas={running: -1.0}))
        assert store.gauge(RUNNING) == 4.0
        clock.advance(20)
        store.heartbeat("p1", clock.time())
        clock.advance(20)  # p2 is 40 s silent, p1 20 s
        assert store.gauge(RUNNING, {"agent": "agent"}) == 2.0
        store.heartbeat("p2", clock.time())  # back: its runs count again
        assert store.gauge(RUNNING) == 4.0

    def test_a_dead_process_runs_vanish(
        self, store_factory: StoreFactory, clock: FakeClock
    ) -> None:
        store = store_factory()
        workers = [Aggregator(store, process_id=f"w{i}", clock=clock.time) for i in range(3)]
        for worker in workers:
            for _ in range(2):
                worker.record(RunStarted(agent="a", at_unix_s=clock.time()))
        workers[0].record(RunFinished(agent="a", duration_s=1.0, ok=True, at_unix_s=clock.time()))
        for worker in workers:
            assert worker.flush(1.0)
        assert store.gauge(RUNNING, {"agent": "a"}) == 5.0
        clock.advance(25)
        assert workers[0].flush(1.0) and workers[1].flush(1.0)  # heartbeats; w2 has died
        clock.advance(10)
        assert store.gauge(RUNNING) == 3.0

    def test_set_gauges_last_writer_wins_by_event_time(self, store: Store) -> None:
        series = (BREAKER, ("b", ""))
        store.apply(batch("p1:1", gauge_sets={series: GaugeSet(2.0, T0 + 10)}))
        store.apply(batch("p2:1", gauge_sets={series: GaugeSet(1.0, T0 + 5)}))  # older
        assert store.gauge(BREAKER, {"breaker": "b"}) == 2.0
        store.apply(batch("p2:2", gauge_sets={series: GaugeSet(0.0, T0 + 20)}))
        assert store.gauge(BREAKER, {"breaker": "b"}) == 0.0

    def test_set_gauges_from_events(self, store: Store) -> None:
        one, two = Aggregator(store, process_id="a"), Aggregator(store, process_id="b")
        one.record(
            BreakerStateChanged(
                breaker="x", old_state="closed", new_state="open", failure_count=5, at_unix_s=T0 + 1
            )
        )
        two.record(
            BreakerStateChanged(
                breaker="x",
                old_state="open",
                new_state="half_open",
                failure_count=0,
                at_unix_s=T0 + 2,
            )
        )
        assert two.flush(1.0) and one.flush(1.0)
        assert store.gauge(BREAKER, {"breaker": "x"}) == 1.0

    # --- caps -------------------------------------------------------------------------------

    def test_label_values_past_the_cap_fold_into_other(self, store: Store) -> None:
        aggregator = Aggregator(store, process_id="p", max_label_values=3)
        for i in range(5):
            aggregator.record(ToolCallFinished(tool=f"t{i}", duration_s=0.1, at_unix_s=T0))
        assert aggregator.flush(1.0)
        assert store.series(TOOLS) == [(t, "ok", "") for t in ("other", "t0", "t1", "t2")]
        assert store.counter(TOOLS, {"tool": "other"}) == 2.0
        assert store.counter(TOOLS) == 5.0
        dropped = store.counter("agentguard_series_dropped_total", {"metric": TOOLS})
        assert dropped == 2.0

    def test_the_cap_holds_across_processes(self, store_factory: StoreFactory) -> None:
        store = store_factory(max_label_values=3)
        first = {(TOOLS, (f"t{i}", "ok", "a"), T0): 1.0 for i in range(2)}
        store.apply(batch("p1:1", counters=first))
        later = {(TOOLS, (f"t{i}", "ok", "a"), T0): 10.0 for i in range(1, 5)}
        later[(TOOLS, ("other", "ok", "a"), T0)] = 100.0  # folded in its process already
        again = batch("p2:1", counters=later, gauge_deltas={(RUNNING, ("b",)): 1.0})
        store.apply(again)
        store.apply(again)  # a lost reply: sent again, folded and skipped as the first time
        # t0, t1 from p1, t2 from p2 fill the 3 places of the tool label; t3 and t4 fold
        assert store.series(TOOLS) == [(t, "ok", "a") for t in ("other", "t0", "t1", "t2")]
        assert store.counter(TOOLS, {"tool": "other"}) == 120.0
        assert store.counter(TOOLS, {"tool": "t1"}) == 11.0
        assert store.counter(TOOLS) == 142.0
        dropped = store.counters("agentguard_series_dropped_total")
        assert dropped == {(TOOLS, ""): 2.0}
        assert store.gauge(RUNNING, {"agent": "b"}) == 1.0  # another metric: its own places

    def test_the_cap_folds_histograms_and_gauges(
        self, store_factory: StoreFactory, clock: FakeClock
    ) -> None:
        store = store_factory(max_label_values=1)
        store.apply(
            batch(
                "p1:1",
                histograms={
                    (DURATION, ("a", ""), T0): sketch_of(1.0),
                    (DURATION, ("b", ""), T0): sketch_of(2.0),
                    (DURATION, ("c", ""), T0): sketch_of(3.0),
                },
                gauge_deltas={(RUNNING, ("x",)): 2.0, (RUNNING, ("y",)): 3.0},
                gauge_sets={(BREAKER, ("b1", "")): GaugeSet(2.0, T0)},
            )
        )
        assert store.histograms(DURATION) == {
            ("a", ""): sketch_of(1.0),
            ("other", ""): sketch_of(2.0, 3.0),
        }
        assert store.gauges(RUNNING) == {("x",): 2.0, ("other",): 3.0}
        assert store.gauge(BREAKER, {"breaker": "b1"}) == 2.0
        assert store.counter("agentguard_series_dropped_total", {"metric": DURATION}) == 2.0
        assert store.counter("agentguard_series_dropped_total", {"metric": RUNNING}) == 1.0

    def test_a_value_unwritten_for_a_month_frees_its_place(
        self, store_factory: StoreFactory, clock: FakeClock
    ) -> None:
        store = store_factory(max_label_values=1)
        store.apply(batch("p1:1", counters={(TOOLS, ("old", "ok", ""), T0): 1.0}))
        clock.advance(31 * 86400)
        now = int(clock.time())
        store.apply(batch("p1:2", now, counters={(TOOLS, ("new", "ok", ""), now): 1.0}))
        assert {k: v for k, v in store.counters(TOOLS, start=now).items() if v} == {
            ("new", "ok", ""): 1.0
        }
        assert store.counter(TOOLS) == 2.0  # the old value's data stays

    def test_a_bad_cap_is_refused(self, store_factory: StoreFactory) -> None:
        with pytest.raises(ValueError, match="max_label_values must be >= 1"):
            store_factory(max_label_values=0)

    # --- reads over long ranges -----------------------------------------------------------

    def test_long_ranges_add_up_exactly_from_coarse_buckets(
        self, store: Store, clock: FakeClock
    ) -> None:
        minutes = [T0 + 60 * m for m in range(0, 26 * 60, 7)]  # every 7th minute for 26 h
        store.apply(
            batch(
                "p1:1",
                counters={
                    (CALLS, (f"m{m % 3}", "ok", ""), b): 1.0 + m % 5 for m, b in enumerate(minutes)
                },
                histograms={
                    (DURATION, (f"m{m % 3}", ""), b): sketch_of(1.0 + m)
                    for m, b in enumerate(minutes)
                },
            )
        )
        clock.advance(26 * 3600)
        # a day ending now, at odd seconds: minutes at the edges, hours and quarters inside
        for start, end in ((clock.time() - 86400 + 13, clock.time() - 17), (T0 + 7261, None)):
            first = start // 60 * 60
            chosen = [
                (m, b) for m, b in enumerate(minutes) if first <= b and (end is None or b < end)
            ]
            expected: dict[tuple[str, ...], float] = {}
            for m, _ in chosen:
                labels = (f"m{m % 3}", "ok", "")
                expected[labels] = expected.get(labels, 0.0) + 1.0 + m % 5
            found = {k: v for k, v in store.counters(CALLS, start, end).items() if v}
            assert found == expected
            assert store.counter(CALLS, {"model": "m1"}, start, end) == expected[("m1", "ok", "")]
            assert store.histogram(DURATION, None, start, end) == sketch_of(
                *(1.0 + m for m, _ in chosen)
            )
            by_series = store.histograms(DURATION, start, end)
            assert by_series[("m2", "")] == sketch_of(*(1.0 + m for m, _ in chosen if m % 3 == 2))
        last_hour = int(clock.time()) // 3600 * 3600
        steps = store.buckets(CALLS, {"model": "m1"}, last_hour - 3600, last_hour, 60)
        assert sum(b.value for b in steps) > 0
        assert all(type(b.value) is float for b in steps)  # also the steps nothing matched in

    def test_a_window_planned_a_moment_ago_is_still_read_at_its_resolution(
        self, store: Store, clock: FakeClock
    ) -> None:
        clock.advance(2 * 86400)
        now = clock.time()
        store.apply(batch("p1:1", now, counters={(CALLS, ("m", "ok", ""), int(now)): 1.0}))
        start = now - 86400 + 60  # a 24 h window at 1m, its last step holding now
        clock.advance(90)  # the query took long: the minute turned, twice
        steps = store.buckets(CALLS, None, start, start + 86400, 60)
        assert len(steps) == 1440
        assert steps[-1].value == 1.0

    def test_buckets_by_a_label_reads_every_value_at_once(
        self, store: Store, clock: FakeClock
    ) -> None:
        store.apply(
            batch(
                "p1:1",
                counters={
                    (CALLS, ("a", "ok", "x"), T0): 1.0,
                    (CALLS, ("a", "error", "x"), T0 + 60): 2.0,
                    (CALLS, ("b", "ok", "y"), T0 + 120): 4.0,
                    (CALLS, ("c", "ok", "x"), T0 + 3600): 8.0,
                },
                histograms={
                    (DURATION, ("a", "x"), T0): sketch_of(1.0),
                    (DURATION, ("a", "y"), T0 + 60): sketch_of(2.0),
                    (DURATION, ("b", "x"), T0 + 120): sketch_of(3.0),
                },
            )
        )
        clock.advance(7200)

        def amounts(found: dict[str, list[Bucket]]) -> dict[str, list[float]]:
            return {k: [b.value for b in v] for k, v in found.items() if any(b.value for b in v)}

        by_model = store.buckets_by(CALLS, "model", start=T0, end=T0 + 180, step_s=60)
        assert amounts(by_model) == {"a": [1.0, 2.0, 0.0], "b": [0.0, 0.0, 4.0]}
        for model, steps in by_model.items():  # each value: what buckets() reads for it
            assert steps == store.buckets(CALLS, {"model": model}, T0, T0 + 180, 60)
        only_b = store.buckets_by(CALLS, "model", start=T0, end=T0 + 180, step_s=60, values=["b"])
        assert amounts(only_b) == {"b": [0.0, 0.0, 4.0]}
        by_status = store.buckets_by(
            CALLS, "status", {"agent": "x"}, start=T0, end=T0 + 7200, step_s=3600
        )
        assert amounts(by_status) == {"ok": [1.0, 8.0], "error": [2.0, 0.0]}
        sketches = store.buckets_by(DURATION, "model", start=T0, end=T0 + 180, step_s=60)
        assert [b.sketch for b in sketches["a"]] == [sketch_of(1.0), sketch_of(2.0), Sketch()]
        by_agent = store.buckets_by(DURATION, "agent", start=T0, end=T0 + 300, step_s=300)
        assert by_agent["x"][0].sketch == sketch_of(1.0, 3.0)
        assert by_agent["y"][0].sketch == sketch_of(2.0)
        only_y = store.buckets_by(
            DURATION, "agent", start=T0, end=T0 + 300, step_s=300, values={"y"}
        )
        assert list(only_y) == ["y"]
        with pytest.raises(ValueError, match="no label 'tool'"):
            store.buckets_by(CALLS, "tool", start=T0, end=T0 + 60, step_s=60)
