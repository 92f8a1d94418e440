"""The query engine: the snapshot and the time-series query, over any store.

:class:`QueryEngine` reads through the :class:`~agentguard_metrics.store.Store` protocol only,
so one engine serves the memory store and the Redis store. :meth:`QueryEngine.snapshot`
(``GET /api/v1/snapshot``) is all-time, except ``active_executions`` and ``breakers`` (the
state now) and ``uptime_seconds`` (the engine's own). :meth:`QueryEngine.query`
(``GET /api/v1/metrics``) reads whole steps of the granularity ending with the step that holds
now (``24h`` at ``15m``: 96 steps, the last in progress), every step listed, empty or not;
``agentguard_service._groups`` holds the conventions of each section. :meth:`QueryEngine.batch`
answers ``POST /api/v1/metrics/batch``: the same sections per agent or endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from agentguard.metricmap import (
    CACHE_LOST,
    CACHE_SAVED,
    ERRORS,
    LLM_CALLS,
    LLM_COST,
    LLM_COST_INCOMPLETE,
    LLM_DURATION,
    LLM_TOKENS,
    LLM_UNPRICED,
    LOOP_DETECTIONS,
    RUNS,
    RUNS_IN_PROGRESS,
    TOOL_CALLS,
    TOOL_DURATION,
)
from agentguard_metrics.sketch import Sketch
from agentguard_metrics.store import Store, label_position
from agentguard_service import _alerts, _context, _formats, _groups, _performance, _stats
from agentguard_service._window import Window, agent_position, iso, step_bounds
from agentguard_service.batch import BatchQuery
from agentguard_service.insights import find_insights, insights_section
from agentguard_service.params import QueryParams

__all__ = ["ENDPOINT_EXCLUDED", "QueryEngine"]

ENDPOINT_EXCLUDED: Final = ("errors",)
"""Groups a batch's endpoint sections leave out: their metrics have no endpoint label."""

_ACTIVITY = (LLM_CALLS, TOOL_CALLS, RUNS, RUNS_IN_PROGRESS, LOOP_DETECTIONS, ERRORS)
"""The metrics whose series say an agent (or endpoint) exists: a call, run, loop or error."""

_MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "prometheus": "text/plain; version=0.0.4; charset=utf-8",
}


class QueryEngine:
    """Answers snapshots and time-series queries from a store.

    Args:
        store: Where the data is (any :class:`~agentguard_metrics.store.Store`).
        clock: Unix time now: the end of every window, and the uptime.
        budget_usd_per_month: A monthly budget in US dollars; the ``costs`` group then has
            a ``budget`` section.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        budget_usd_per_month: float | None = None,
    ) -> None:
        if not isinstance(store, Store):
            raise TypeError(f"store must follow agentguard_metrics.Store, got {store!r}")
        if budget_usd_per_month is not None and not budget_usd_per_month > 0:
            raise ValueError(
                f"budget_usd_per_month must be > 0 (or None), got {budget_usd_per_month!r}"
            )
        self._store = store
        self._clock = clock
        self._budget = None if budget_usd_per_month is None else float(budget_usd_per_month)
        self._started = clock()

    @property
    def store(self) -> Store:
        """The store read."""
        return self._store

    def snapshot(self) -> dict[str, object]:
        """The all-time figures and the state now (DESIGN.md section 5).

        A figure read from a total the store holds out of range (infinite, NaN, past
        :data:`agentguard.limits.MAX_TOTAL`: written before stores refused such sums) is
        ``None`` (JSON ``null``): refused, never served.
        """
        store = self._store
        endpoints: dict[str, dict[str, object]] = {}
        for kind, calls, duration in (
            ("llm", LLM_CALLS.name, LLM_DURATION.name),
            ("tool", TOOL_CALLS.name, TOOL_DURATION.name),
        ):
            requests = _by_first_label(store.counters(calls))
            sketches = _sketches_by_first_label(store.histograms(duration))
            for name in sorted(requests):
                sketch = sketches.get(name)
                avg = _stats.stat(sketch, "avg")
                p95 = _stats.stat(sketch, "p95")
                endpoints[f"{kind}:{name}"] = {
                    "requests_total": _stats.count(requests[name]),
                    "avg_duration_ms": None if avg is None else _stats.amount(avg * 1000.0),
                    "p95_duration_ms": None if p95 is None else _stats.amount(p95 * 1000.0),
                }
        tokens = dict.fromkeys(_groups.TOKEN_TYPES, 0.0)
        at = label_position(LLM_TOKENS.name, "token_type")
        for values, amount in store.counters(LLM_TOKENS.name).items():
            tokens[values[at]] = tokens.get(values[at], 0.0) + amount
        read = tokens["cache_read"]
        context = read + tokens["input"] + tokens["cache_write_5m"] + tokens["cache_write_1h"]
        return {
            "uptime_seconds": max(0.0, self._clock() - self._started),
            "total_executions": _stats.count(
                store.counter(LLM_CALLS.name) + store.counter(TOOL_CALLS.name)
            ),
            "active_executions": _stats.count(store.gauge(RUNS_IN_PROGRESS.name)),
            "error_count": _stats.count(store.counter(ERRORS.name)),
            **_top_level_maps(endpoints),
            "endpoints": endpoints,
            "cost_usd_total": _stats.amount(store.counter(LLM_COST.name)),
            "unpriced_calls": _stats.count(store.counter(LLM_UNPRICED.name)),
            "cost_incomplete_calls": _stats.count(store.counter(LLM_COST_INCOMPLETE.name)),
            "tokens_total": {t: _stats.count(v) for t, v in tokens.items()},
            "cache_hit_ratio": _stats.ratio(read, context),
            "cache_saved_usd_total": _stats.amount(
                _groups.net_saved(
                    [store.counter(CACHE_SAVED.name)], [store.counter(CACHE_LOST.name)]
                )[0]
            ),
            "context_tokens": _context.snapshot_context(store, self._clock()),
            "breakers": _groups.breaker_states(store),
            "loop_detections": _stats.count(store.counter(LOOP_DETECTIONS.name)),
            "alerts": _alerts.alert_counts(store),
            "agents": self._agents(),
        }

    def _agents(self) -> list[str]:
        """The agents any call, run, loop or error was under (events outside a run have none)."""
        found: set[str] = set()
        for metric in _ACTIVITY:
            at = agent_position(metric.name)
            found.update(values[at] for values in self._store.series(metric.name))
        found.discard("")
        return sorted(found)

    def query(self, params: QueryParams) -> dict[str, object]:
        """The JSON document of a time-series query (whatever ``params.format`` says).

        One agent (or none): its sections. Several: the sections of them all (their sum),
        and ``byAgent``, each agent's own. ``hasData`` is ``False`` for an agent the store
        holds nothing of: its sections are empty (``summary`` ``None``), never zeros.
        """
        now = self._clock()
        document = self._head(params, now)
        agents = params.agents
        w = self._window(params, now, agents=agents)
        document.update(self._sections(w, params, now))
        if agents is not None and len(agents) > 1:
            document["byAgent"] = [
                {"agent": agent, **self._sections(w.part(agent), params, now)} for agent in agents
            ]
        return document

    def batch(self, query: BatchQuery) -> dict[str, object]:
        """The JSON document of a batch query: ``items``, one section per item, in order.

        Each section is what a query of that item alone would hold (``summary`` and the
        groups), with ``id`` (as given), ``kind`` (``agent`` or ``endpoint``) and
        ``hasData``. An endpoint's section reads only its calls (``llm:<model>``: that
        model's LLM calls, tokens and dollars; ``tool:<name>``: that tool's calls), over the
        query's agents; ``errors`` (counted by source and kind, not by endpoint) is left out
        of it and named in ``notApplicable``.
        """
        params = query.params
        now = self._clock()
        document = self._head(params, now)
        items: list[dict[str, object]] = []
        for item in query.items:
            if item.endpoint is None:
                w = self._window(params, now, agents=(item.id,))
                items.append({"id": item.id, "kind": "agent", **self._sections(w, params, now)})
                continue
            w = self._window(params, now, agents=params.agents, only=item.endpoint)
            groups = tuple(g for g in params.groups if g not in ENDPOINT_EXCLUDED)
            section: dict[str, object] = {"id": item.id, "kind": "endpoint"}
            section.update(self._sections(w, params, now, groups))
            section["notApplicable"] = [g for g in params.groups if g in ENDPOINT_EXCLUDED]
            items.append(section)
        document["items"] = items
        return document

    def _head(self, params: QueryParams, now: float) -> dict[str, object]:
        start, end = step_bounds(now, params.window_s, params.step_s)
        return {
            "timeframe": params.timeframe,
            "granularity": params.granularity,
            "aggregation": params.aggregation,
            "agent": params.agent,
            "generatedAt": iso(now),
            "window": {"start": iso(start), "end": iso(end)},
        }

    def _window(
        self,
        params: QueryParams,
        now: float,
        *,
        agents: tuple[str, ...] | None,
        only: tuple[str, str] | None = None,
    ) -> Window:
        start, end = step_bounds(now, params.window_s, params.step_s)
        return Window(
            self._store, start=start, end=end, step_s=params.step_s, agents=agents, only=only
        )

    def _sections(
        self,
        w: Window,
        params: QueryParams,
        now: float,
        groups: tuple[str, ...] | None = None,
    ) -> dict[str, object]:
        """``hasData``, ``summary`` and a section per group; empty ones without data."""
        groups = params.groups if groups is None else groups
        has_data = any(w.has_series(m.name) for m in _ACTIVITY)
        if w.scoped and not has_data:
            return {
                "hasData": False,
                "summary": None,
                **{g: {"findings": []} if g == "insights" else {"timeSeries": []} for g in groups},
            }
        document: dict[str, object] = {"hasData": has_data, "summary": _groups.summary(w)}
        for group in groups:
            if group == "performance":
                document[group] = _performance.performance(w, params.aggregation)
            elif group == "usage":
                document[group] = _groups.usage(w)
            elif group == "costs":
                document[group] = _groups.costs(w, now, self._budget)
            elif group == "errors":
                document[group] = _groups.errors(w)
            elif group == "cache":
                document[group] = _groups.cache(w)
            elif group == "tools":
                document[group] = _groups.tools(w, params.aggregation)
            elif group == "breakers":
                document[group] = _groups.breakers(w)
            elif group == "alerts":
                document[group] = _alerts.alerts(w)
            elif group == "context":
                document[group] = _context.query_context(w)
            else:
                document[group] = insights_section(find_insights(w))
        return document

    def render(self, params: QueryParams) -> tuple[str, str]:
        """The answer to ``params`` as text in its format, and its media type."""
        document = self.query(params)
        if params.format == "csv":
            text = _formats.to_csv(document)
        elif params.format == "prometheus":
            text = _formats.to_prometheus(document)
        else:
            text = _formats.to_json(document)
        return text, _MEDIA_TYPES[params.format]


def _top_level_maps(endpoints: dict[str, dict[str, object]]) -> dict[str, object]:
    """HopX's maps: ``requests_total``, ``avg_duration_ms``, ``p95_duration_ms`` by endpoint.

    A refused figure (``None``) is left out of its map, so a client that formats every value
    (``f"{v:.2f}"``) never meets a ``null``.
    """
    maps: dict[str, object] = {}
    for field in ("requests_total", "avg_duration_ms", "p95_duration_ms"):
        maps[field] = {
            name: figures[field]
            for name, figures in endpoints.items()
            if figures[field] is not None
        }
    return maps


def _by_first_label(per_series: dict[tuple[str, ...], float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for values, amount in per_series.items():
        out[values[0]] = out.get(values[0], 0.0) + amount
    return out


def _sketches_by_first_label(per_series: dict[tuple[str, ...], Sketch]) -> dict[str, Sketch]:
    out: dict[str, Sketch] = {}
    for values, sketch in per_series.items():
        held = out.get(values[0])
        if held is None:
            out[values[0]] = sketch.copy()
        else:
            held.merge(sketch)
    return out
