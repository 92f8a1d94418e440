"""The formats of a time-series answer: JSON, CSV and the Prometheus text format.

All three are made from the one JSON document, so they always agree.

- **csv**: one row per step, one column per number of every time series requested, named
  ``<group>.<field>`` (``performance.latency``, ``costs.cost``), after a ``timestamp``
  column (``<group>.<field>.<stat>`` for each statistic of ``aggregation=p50,p95``); an
  empty cell where the JSON has ``null``. Only the time series are in it.
- **prometheus**: the window's figures as gauges named ``agentguard_window_...`` (and the
  state now: ``agentguard_breaker_state``), every sample labelled with the ``timeframe``
  and, when the query named agents, the ``agent`` (each agent's own figures). Gauges, not
  counters: a window's total goes down when old steps leave the window.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import cast

import orjson
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from agentguard.metricmap import BREAKER_STATE_NUMBERS

_Doc = Mapping[str, object]


def to_json(document: _Doc) -> str:
    """The document as compact JSON; ``NaN`` and infinities never appear, they are ``null``.

    Statistics of nothing are ``None`` already; orjson writes a float that is NaN or infinite
    (a ratio of two refused totals, say) as ``null`` too, where ``json.dumps`` would write
    ``Infinity``, which is not JSON, or raise. Every JSON answer of the service goes
    through here: the query, the snapshot and the stream.

    orjson, not the standard library: a day at one-minute steps is about 1.5 MB of JSON, which
    ``json.dumps`` takes some 20 ms to write, a fifth of P6's budget for the whole query.
    """
    return orjson.dumps(document).decode()


def _section(document: _Doc, group: str) -> _Doc:
    return cast("_Doc", document.get(group) or {})


def _list(value: object) -> Sequence[_Doc]:
    return cast("Sequence[_Doc]", value or [])


def to_csv(document: _Doc) -> str:
    """One row per step: ``timestamp`` then ``<group>.<field>`` for every series.

    A field holding one figure per statistic (``aggregation=p50,p95``) gives a column per
    statistic: ``performance.latency.p50``, ``performance.latency.p95``.
    """
    columns: list[tuple[str, str, str | None]] = []
    series: list[Sequence[_Doc]] = []
    for group, section in document.items():
        if not isinstance(section, Mapping) or "timeSeries" not in section:
            continue
        points = _list(section["timeSeries"])
        series.append(points)
        if points:
            for field, value in points[0].items():
                if field == "timestamp":
                    continue
                if isinstance(value, Mapping):
                    columns += [(group, field, str(k)) for k in value]
                else:
                    columns.append((group, field, None))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["timestamp", *(f"{g}.{f}" if k is None else f"{g}.{f}.{k}" for g, f, k in columns)]
    )
    by_group = {g: _list(_section(document, g)["timeSeries"]) for g, _, _ in columns}
    steps = max((len(p) for p in series), default=0)
    for i in range(steps):
        first = next(p for p in series if p)[i]
        row: list[object] = [first["timestamp"]]
        for group, field, key in columns:
            value = by_group[group][i][field]
            if key is not None:
                value = cast("_Doc", value)[key]
            row.append("" if value is None else value)
        writer.writerow(row)
    return out.getvalue()


class _Families:
    """Gauges gathered by name, every sample labelled with the query's own labels."""

    def __init__(self, common: Mapping[str, str]) -> None:
        self.common = dict(common)
        """The labels of the samples added next (the same names for every part)."""
        self._families: dict[str, GaugeMetricFamily] = {}

    def add(self, name: str, help_: str, value: object, **labels: str) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        family = self._families.get(name)
        names = [*self.common, *labels]
        if family is None:
            family = self._families[name] = GaugeMetricFamily(name, help_, labels=names)
        family.add_metric([*self.common.values(), *labels.values()], float(value))

    def collect(self) -> list[GaugeMetricFamily]:
        return list(self._families.values())


def _context(f: _Families, document: _Doc) -> None:
    """Context size per model, and per agent unless the query named one (its own label)."""
    context = _section(document, "context")
    groups = [("agentguard_window_context_tokens", "model", "byModel")]
    if document.get("agent") is None:
        groups.append(("agentguard_window_agent_context_tokens", "agent", "byAgent"))
    for name, label, key in groups:
        by = _section(context, key)
        for value_of_label in by:
            for stat, value in _section(by, value_of_label).items():
                f.add(
                    name,
                    f"Context size in tokens (current, max, p95) per {label}, of the window.",
                    value,
                    **{label: value_of_label, "stat": stat},
                )


def to_prometheus(document: _Doc) -> str:
    """The window's figures as Prometheus gauges (text format 0.0.4).

    Several agents (``byAgent``): each agent's figures, labelled with it (their sum is
    PromQL's ``sum without (agent)``). An agent without data has no samples.
    """
    f = _Families({})
    per_agent = _list(document.get("byAgent"))
    for part in per_agent or [document]:
        common = {"timeframe": str(document["timeframe"])}
        if part.get("agent") is not None:
            common["agent"] = str(part["agent"])
        f.common = common
        _add_figures(f, part)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(cast("Collector", f))
    return generate_latest(registry).decode()


def _add_figures(f: _Families, document: _Doc) -> None:  # noqa: PLR0912 (one flat walk)
    summary = _section(document, "summary")
    f.add(
        "agentguard_window_executions",
        "LLM and tool calls in the window, by status.",
        summary.get("successfulExecutions"),
        status="ok",
    )
    f.add("agentguard_window_executions", "", summary.get("failedExecutions"), status="error")
    f.add(
        "agentguard_window_cost_usd", "Cost of LLM calls in the window.", summary.get("totalCost")
    )
    for stat in ("average", "p95", "p99"):
        f.add(
            "agentguard_window_latency_seconds",
            "Latency of LLM and tool calls in the window.",
            summary.get(f"{stat}Latency"),
            stat=stat,
        )
    for e in _list(_section(document, "performance").get("endpoints")):
        endpoint = str(e["endpoint"])
        f.add(
            "agentguard_window_endpoint_requests",
            "Calls per endpoint in the window.",
            e["requests"],
            endpoint=endpoint,
        )
        f.add(
            "agentguard_window_endpoint_errors",
            "Failed calls per endpoint in the window.",
            e["errors"],
            endpoint=endpoint,
        )
        for stat in ("average", "p95", "p99"):
            f.add(
                "agentguard_window_endpoint_latency_seconds",
                "Latency per endpoint.",
                e[f"{stat}Latency"],
                endpoint=endpoint,
                stat=stat,
            )
    totals = _section(_section(document, "usage"), "totals")
    for key, value in totals.items():
        f.add("agentguard_window_usage", "Calls, runs and tokens in the window.", value, what=key)
    costs = _section(document, "costs")
    breakdown = _section(costs, "breakdown")
    for model, value in _section(breakdown, "byModel").items():
        f.add("agentguard_window_cost_by_model_usd", "Cost per model.", value, model=model)
    for token_type, value in _section(breakdown, "byTokenType").items():
        f.add(
            "agentguard_window_cost_by_token_type_usd",
            "Cost per token type.",
            value,
            token_type=token_type,
        )
    for key, value in _section(costs, "trends").items():
        f.add(
            "agentguard_window_cost_trend",
            "Cost trends (USD, percent for changePercent).",
            value,
            what=key,
        )
    for key, value in _section(costs, "budget").items():
        f.add(
            "agentguard_budget",
            "The monthly budget (USD; onTrack is not a number).",
            value,
            what=key,
        )
    errors = _section(_section(document, "errors"), "breakdown")
    for source, value in _section(errors, "bySource").items():
        f.add("agentguard_window_errors", "Errors in the window, by source.", value, source=source)
    for kind, value in _section(errors, "byKind").items():
        f.add(
            "agentguard_window_errors_by_kind", "Errors in the window, by kind.", value, kind=kind
        )
    for key, value in _section(_section(document, "cache"), "totals").items():
        f.add("agentguard_window_cache", "Prompt-cache figures of the window.", value, what=key)
    _context(f, document)
    for t in _list(_section(document, "tools").get("byTool")):
        tool = str(t["tool"])
        for key in ("calls", "errors", "loopDetections"):
            f.add(
                "agentguard_window_tool", "Tool figures of the window.", t[key], tool=tool, what=key
            )
    breakers = _section(document, "breakers")
    for name, state in _section(breakers, "current").items():
        f.add(
            "agentguard_breaker_state",
            "Circuit breaker state now: 0 closed, 1 half-open, 2 open.",
            BREAKER_STATE_NUMBERS[str(state)],
            breaker=name,
        )
    for b in _list(breakers.get("byBreaker")):
        for key in ("opened", "halfOpened", "closed", "rejections"):
            f.add(
                "agentguard_window_breaker",
                "Breaker transitions and rejections in the window.",
                b[key],
                breaker=str(b["breaker"]),
                what=key,
            )
    for a in _list(_section(document, "alerts").get("byRule")):
        for key in ("fired", "resolved", "firingNow"):
            f.add(
                "agentguard_window_alerts",
                "Alert changes in the window (fired, resolved) and alerts firing now (firingNow).",
                a[key],
                rule=str(a["rule"]),
                what=key,
            )
    tally: dict[tuple[str, str], int] = {}
    for i in _list(_section(document, "insights").get("findings")):
        finding = (str(i["type"]), str(i["severity"]))
        tally[finding] = tally.get(finding, 0) + 1
    for (kind, severity), n in sorted(tally.items()):
        f.add(
            "agentguard_window_insights",
            "Findings of the insight rules.",
            n,
            type=kind,
            severity=severity,
        )
