"""The mechanics of an aggregator: the deltas held since the last flush, caps, compiled rules.

:class:`DeltaBackend` tells :mod:`agentguard.compiler` what the compiled rules update: the
cells of the current :class:`Buffer`, cached per group key (which ends with the event's agent
and 1-minute bucket). A counter or ``inc``/``dec`` gauge is a one-float list, a histogram a
:class:`~agentguard_metrics.sketch.Sketch` whose ``add`` is inlined (a test checks it agrees
with ddsketch's ``LogarithmicMapping.key``), a ``set`` gauge a call keeping the latest value.

The trap: the handler state is ``[buffer, cache of group 1, ...]`` and a flush swaps the whole
state for a fresh one, so a cache never points into a buffer that was sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from agentguard import FailureEpisodes
from agentguard.compiler import Group, Handler, Source, compile_handler
from agentguard.events import Event
from agentguard.metricmap import (
    EVENTS_DROPPED,
    INVALID_VALUES,
    METRICS,
    RULES,
    SERIES_DROPPED,
    Metric,
    Rule,
)
from agentguard_metrics.batch import BASE_RESOLUTION_S, BucketKey, DeltaBatch, GaugeSet, SeriesKey
from agentguard_metrics.caps import OTHER
from agentguard_metrics.sketch import Sketch, mapping_for
from agentguard_metrics.store import AGENT

_BY_AGENT = frozenset(m.name for m in METRICS if AGENT in m.labels)
_K = TypeVar("_K", BucketKey, SeriesKey)


class Buffer:
    """Deltas since the last flush; memory grows with the number of series, not of events."""

    __slots__ = ("counters", "gauge_deltas", "gauge_sets", "histograms")

    def __init__(self) -> None:
        self.counters: dict[BucketKey, list[float]] = {}
        self.histograms: dict[BucketKey, Sketch] = {}
        self.gauge_deltas: dict[SeriesKey, list[float]] = {}
        self.gauge_sets: dict[SeriesKey, GaugeSet] = {}

    def series_count(self) -> int:
        """How many entries the buffer holds."""
        return (
            len(self.counters)
            + len(self.histograms)
            + len(self.gauge_deltas)
            + len(self.gauge_sets)
        )

    def count(self, key: BucketKey, amount: float = 1.0) -> None:
        """Add to a counter directly (the counts about the aggregator itself)."""
        cell = self.counters.get(key)
        if cell is None:
            self.counters[key] = [amount]
        else:
            cell[0] += amount

    def batch(self, process_id: str, sequence: int, sent_at_unix_s: float) -> DeltaBatch:
        """The buffer as a batch (the sketches go with it)."""
        return DeltaBatch(
            process_id=process_id,
            sequence=sequence,
            sent_at_unix_s=sent_at_unix_s,
            counters={key: cell[0] for key, cell in self.counters.items()},
            histograms=self.histograms,
            gauge_deltas={key: cell[0] for key, cell in self.gauge_deltas.items()},
            gauge_sets=self.gauge_sets,
        )


class LabelCaps:
    """Folds label values past ``max_values`` per label per metric into ``other``.

    Not thread-safe: the aggregator calls it under its lock. Memory is bounded: at most
    ``max_values`` remembered values per label.
    """

    __slots__ = ("_max_values", "_seen")

    def __init__(self, max_values: int) -> None:
        self._max_values = max_values
        self._seen: dict[str, list[set[str]]] = {}

    def fold(self, name: str, labels: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """``labels`` with the values past the cap replaced by ``other``, and whether any was."""
        seen = self._seen.get(name)
        if seen is None:
            seen = self._seen[name] = [set() for _ in labels]
        folded = False
        out: list[str] = []
        for value, values in zip(labels, seen, strict=True):
            if value in values or value == OTHER:
                out.append(value)
            elif len(values) < self._max_values:
                values.add(value)
                out.append(value)
            else:
                out.append(OTHER)
                folded = True
        return tuple(out), folded


class DeltaBackend:
    """Compiles the rules into updates of the cells of the current buffer.

    Args:
        caps: The label caps (past them a value reads ``other``, counted).
        max_series: Entries a buffer holds at most; an effect on a new series past it is
            dropped (written to a scratch cell that is thrown away) and counted.
        relative_accuracy: Of the histograms' sketches.
        clock: Unix time now, for the bucket of counts made outside an event.
        episodes: Where refused amounts are logged, once per episode per metric.
    """

    def __init__(
        self,
        caps: LabelCaps,
        max_series: int,
        relative_accuracy: float,
        clock: Callable[[], float],
        episodes: FailureEpisodes | None = None,
    ) -> None:
        self.caps = caps
        self.episodes = episodes
        self.max_series = max_series
        self.accuracy = relative_accuracy
        self.clock = clock
        self.state: list[Any] = []
        self.levels: dict[SeriesKey, list[float]] = {}
        """This process's level of each ``inc``/``dec`` gauge, across flushes: a ``dec`` never
        takes it below zero (the store adds up what processes sent: see :meth:`apply`)."""
        self.groups: list[Group] = []
        self.handlers: dict[type[Event], Handler] = {
            cls: compile_handler(cls, rules, self, self.groups) for cls, rules in RULES.items()
        }

    def fresh_state(self) -> list[Any]:
        """A new handler state: an empty buffer and an empty cache per group."""
        return [Buffer(), *({} for _ in self.groups)]

    # --- the compiler's backend ----------------------------------------------------------

    def includes(self, metric: Metric) -> bool:
        """Every metric is aggregated."""
        return True

    def prologue(self, source: Source) -> list[str]:
        """The event's 1-minute bucket, in ``bucket``."""
        return [f"bucket = int(event.at_unix_s // {BASE_RESOLUTION_S}) * {BASE_RESOLUTION_S}"]

    def key_suffix(self, source: Source) -> tuple[str, ...]:
        """Every series is kept per agent and per bucket."""
        return ("event.agent", "bucket")

    def suffix(self, event: Event) -> tuple[object, ...]:
        """The event's agent and 1-minute bucket, for the interpreter."""
        return (event.agent, int(event.at_unix_s // BASE_RESOLUTION_S) * BASE_RESOLUTION_S)

    def resolve(
        self, state: list[Any], rule: Rule, labels: tuple[str, ...], suffix: tuple[object, ...]
    ) -> tuple[object, bool]:
        """The buffer's cell of ``rule``'s series in the event's bucket, under the caps."""
        agent, bucket = suffix
        assert isinstance(bucket, int)  # the prologue's ``bucket``
        metric = rule.metric
        name = metric.name
        if name not in _BY_AGENT:
            # A gauge that is set (a breaker's state) belongs to no agent: its latest value
            # wins across every process and agent, so it is kept under agent "" alone.
            shared = rule.op == "set" or agent is None
            labels = (*labels, "" if shared else str(agent))
        labels, folded = self.caps.fold(name, labels)
        buffer: Buffer = state[0]
        if folded:
            buffer.count((SERIES_DROPPED.name, (name, ""), bucket))
        if rule.op == "set":
            return self._setter(buffer, (name, labels)), not folded
        if metric.type == "histogram":
            key: BucketKey = (name, labels, bucket)
            sketch = buffer.histograms.get(key)
            if sketch is None:
                sketch = Sketch(self.accuracy)
                if not self._room(buffer):
                    return sketch, False
                buffer.histograms[key] = sketch
            return sketch, not folded
        if metric.type == "counter":
            cell, kept = self._cell(buffer, buffer.counters, (name, labels, bucket))
            return cell, kept and not folded
        cell, kept = self._cell(buffer, buffer.gauge_deltas, (name, labels))
        level = self.levels.get((name, labels))
        if level is None:
            level = [0.0]
            if kept:
                self.levels[(name, labels)] = level
        return (cell, level), kept and not folded

    def _cell(
        self, buffer: Buffer, cells: dict[_K, list[float]], key: _K
    ) -> tuple[list[float], bool]:
        """The cell of ``key`` in ``cells``, made if there is room; else a scratch cell, False."""
        cell = cells.get(key)
        if cell is None:
            cell = [0.0]
            if not self._room(buffer):
                return cell, False
            cells[key] = cell
        return cell, True

    def apply(self, source: Source, rule: Rule, target: str) -> list[str]:
        """Arithmetic on a cell, an inlined sketch add, or a call for a ``set`` gauge."""
        if rule.op == "set":
            return [f"{target}(amount, event.at_unix_s)"]
        if rule.op == "observe":
            mapping = mapping_for(self.accuracy)
            # ddsketch's LogarithmicMapping.key: ceil(log2(v) * multiplier) (offset 0).
            multiplier = source.bind(
                "multiplier", mapping._multiplier
            )  # private: a test checks it against mapping.key
            smallest = source.bind("min_possible", mapping.min_possible)
            ceil, log = source.bind("ceil", math.ceil), source.bind("log", math.log)
            return [
                f"if amount > {smallest}:",
                f"    index = {ceil}({log}(amount, 2) * {multiplier})",
                f"    positive = {target}.positive",
                "    positive[index] = positive.get(index, 0) + 1",
                "else:",
                f"    {target}.zero_count += 1",
                f"{target}.count += 1",
                f"{target}.sum += amount",
                f"if amount < {target}.min:",
                f"    {target}.min = amount",
                f"if amount > {target}.max:",
                f"    {target}.max = amount",
            ]
        if rule.metric.type == "counter":
            return [f"{target}[0] += amount"]
        # An inc/dec gauge's target is (this flush's delta, this process's level). A dec past
        # the level (a run that finished here without having started here: attached mid-run,
        # or its start dropped) takes the level to zero, not below, and is counted in
        # agentguard_invalid_values_total{field=<metric>}.
        if rule.op == "inc":
            return [f"delta, level = {target}", "delta[0] += amount", "level[0] += amount"]
        unmatched = source.bind("unmatched", self.invalid(rule, "a dec past zero"))
        return [
            f"delta, level = {target}",
            "if amount > level[0]:",
            f"    {unmatched}(amount)",
            "    amount = level[0]",
            "delta[0] -= amount",
            "level[0] -= amount",
        ]

    def update(self, target: Any, rule: Rule, amount: float, event: Event) -> None:
        """What the lines of :meth:`apply` do, for the interpreter (the sketch's own ``add``)."""
        if rule.op == "set":
            target(amount, event.at_unix_s)
        elif rule.op == "observe":
            target.add(amount)
        elif rule.metric.type == "counter":
            target[0] += amount
        else:
            delta, level = target
            if rule.op == "dec" and amount > level[0]:
                self.invalid(rule, "a dec past zero")(amount)
                amount = level[0]
            sign = -1.0 if rule.op == "dec" else 1.0
            delta[0] += sign * amount
            level[0] += sign * amount

    def invalid(self, rule: Rule, where: str) -> Callable[[object], None]:
        """Count a refused amount (the handler runs under the aggregator's lock)."""
        name = rule.metric.name

        def refuse(amount: object) -> None:
            self.state[0].count((INVALID_VALUES.name, (name, ""), self._bucket()))
            if self.episodes is not None:
                self.episodes.failed(
                    f"agentguard_metrics: invalid values for {name}",
                    f"refused {amount!r} from {where} (out of range, agentguard.limits); "
                    f"counted in {INVALID_VALUES.name}",
                )

        return refuse

    # --- mechanics -----------------------------------------------------------------------

    def dropped(self, reason: str) -> None:
        """Count something dropped for ``reason`` now (the caller holds the aggregator's lock)."""
        self.state[0].count((EVENTS_DROPPED.name, (reason, ""), self._bucket()))

    def _room(self, buffer: Buffer) -> bool:
        if buffer.series_count() < self.max_series:
            return True
        buffer.count((EVENTS_DROPPED.name, ("series_cap", ""), self._bucket()))
        return False

    def _bucket(self) -> int:
        return int(self.clock() // BASE_RESOLUTION_S) * BASE_RESOLUTION_S

    def _setter(self, buffer: Buffer, series: SeriesKey) -> Callable[[float, float], None]:
        sets = buffer.gauge_sets

        def update(value: float, at_unix_s: float) -> None:
            was = sets.get(series)
            if was is None:
                if not self._room(buffer):
                    return
            elif at_unix_s < was.at_unix_s:
                return
            sets[series] = GaugeSet(value, at_unix_s)

        return update
