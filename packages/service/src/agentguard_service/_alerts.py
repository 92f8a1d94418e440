"""Alerts as the store counts them (``agentguard_alerts_total{rule,state}``).

The service's rule evaluator publishes ``AlertStateChanged`` outside any run, so alerts
belong to no agent: they are read across every agent, whatever agent a query is narrowed
to (as breakers are). The store counts changes, not alerts: an alert firing *now* is a
change to ``firing`` not yet followed by one to ``resolved``, so ``firing_now`` is the
difference of the two all-time counts per rule (never below 0). An evaluator that lost
its state while an alert fired, and fired it again, counts it twice until it resolves.
"""

from __future__ import annotations

from typing import Final

from agentguard.metricmap import ALERTS
from agentguard_metrics.store import Store, label_position
from agentguard_service._stats import count
from agentguard_service._window import Window

RECENT_MAX: Final = 20
"""Entries of ``recent``, newest first."""

_STATES: Final = ("firing", "resolved")


def _per_rule(per_state: dict[tuple[str, ...], float]) -> dict[str, dict[str, float]]:
    """``{(rule, state): n}`` as ``{rule: {"firing": n, "resolved": n}}``."""
    out: dict[str, dict[str, float]] = {}
    for (rule, state), amount in per_state.items():
        if amount and state in _STATES:
            out.setdefault(rule, dict.fromkeys(_STATES, 0.0))[state] += amount
    return out


def _by_rule_and_state(per_series: dict[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
    at = (label_position(ALERTS.name, "rule"), label_position(ALERTS.name, "state"))
    out: dict[tuple[str, ...], float] = {}
    for values, amount in per_series.items():
        key = (values[at[0]], values[at[1]])
        out[key] = out.get(key, 0.0) + amount
    return out


def alert_counts(store: Store) -> dict[str, dict[str, int | None]]:
    """Per rule, all-time: ``fired``, ``resolved`` and ``firing_now`` (the snapshot's)."""
    return {
        rule: {
            "fired": count(n["firing"]),
            "resolved": count(n["resolved"]),
            "firing_now": max(0, count(n["firing"] - n["resolved"]) or 0),
        }
        for rule, n in sorted(_per_rule(_by_rule_and_state(store.counters(ALERTS.name))).items())
    }


def alerts(w: Window) -> dict[str, object]:
    """Alert changes per step and per rule, the latest ones first, and what fires now."""
    if w.scoped:
        w = w.unscoped()
    timestamps = w.timestamps()
    by_state = w.counts_by(ALERTS.name, "state")
    steps = {s: by_state.get(s) or w.zeros() for s in _STATES}
    points = [
        {"timestamp": ts, **{s: count(steps[s][i]) for s in _STATES}}
        for i, ts in enumerate(timestamps)
    ]
    in_window = _per_rule(w.grouped(ALERTS.name, ("rule", "state")))
    now = alert_counts(w.store)
    recent: list[dict[str, object]] = []
    for state in _STATES:
        by_rule = w.counts_by(ALERTS.name, "rule", state=state)
        for rule, changes in in_window.items():
            if changes[state]:
                per_step = by_rule.get(rule) or w.zeros()
                recent += [
                    {"timestamp": ts, "rule": rule, "state": state, "count": count(n)}
                    for ts, n in zip(timestamps, per_step, strict=True)
                    if n
                ]
    # Newest step first; within a step the order of changes is unknown, so by rule.
    recent.sort(key=lambda a: (str(a["rule"]), str(a["state"])))
    recent.sort(key=lambda a: str(a["timestamp"]), reverse=True)
    rules = sorted(set(in_window) | {r for r, n in now.items() if n["firing_now"]})
    return {
        "timeSeries": points,
        "byRule": [
            {
                "rule": rule,
                "fired": count(in_window.get(rule, {}).get("firing", 0.0)),
                "resolved": count(in_window.get(rule, {}).get("resolved", 0.0)),
                "firingNow": now.get(rule, {}).get("firing_now", 0),
            }
            for rule in rules
        ],
        "recent": recent[:RECENT_MAX],
    }
