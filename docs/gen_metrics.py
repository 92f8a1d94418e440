"""Writes ``docs/metrics.md`` from the metric map: ``python docs/gen_metrics.py > docs/metrics.md``.

Every metric of :data:`agentguard.metricmap.METRICS` (type, unit, labels, buckets, the events
that move it, read from :data:`agentguard.metricmap.RULES`) and a few PromQL examples.
``tests/core/test_metricmap.py`` checks that the file is current.
"""

from __future__ import annotations

from agentguard.metricmap import EVENTS_PUBLISHED, METRICS, RULES, Getter

__all__ = ["markdown"]


def markdown() -> str:
    """``docs/metrics.md``: every metric, its type, unit, labels and the events that move it."""
    moved_by: dict[str, list[str]] = {m.name: [] for m in METRICS}
    for cls, rules in RULES.items():
        for rule in rules:
            condition = "" if rule.when is None else f" when {_when(rule.when)}"
            labels = ", ".join(
                f"{name}={getter.describe()}"
                for name, getter in zip(rule.metric.labels, rule.labels, strict=True)
            )
            moved_by[rule.metric.name].append(
                f"`{cls.kind}` ({cls.__name__}): {rule.op} {rule.value.describe()}"
                + (f" with {labels}" if labels else "")
                + condition
            )
    moved_by[EVENTS_PUBLISHED.name].append("every event: inc 1 with kind=`kind`")
    lines = [
        "# Metrics",
        "",
        "Generated from `agentguard.metricmap` (`python docs/gen_metrics.py > docs/metrics.md`); "
        "do not edit by hand.",
        "",
        "Base units, counters ending in `_total`; label values past a cardinality cap fold "
        "into `other` (counted in `agentguard_series_dropped_total`).",
        "",
    ]
    for metric in METRICS:
        lines += [
            f"## `{metric.name}`",
            "",
            metric.help,
            "",
            f"- type: {metric.type}",
            f"- unit: {metric.unit or 'none (a count)'}",
            f"- labels: {', '.join(f'`{label}`' for label in metric.labels) or 'none'}",
        ]
        if metric.buckets:
            lines.append(f"- buckets: {', '.join(f'{b:g}' for b in metric.buckets)}")
        sources = moved_by[metric.name] or ["kept by the subscriber itself (not an event)"]
        lines += ["- moved by:", *(f"  - {source}" for source in sources), ""]
    lines += _PROMQL
    return "\n".join(lines)


_PROMQL = [
    "## Example PromQL",
    "",
    "Error rate of LLM calls over 5 minutes:",
    "",
    "```promql",
    'sum(rate(agentguard_llm_calls_total{status="error"}[5m]))',
    "  / sum(rate(agentguard_llm_calls_total[5m]))",
    "```",
    "",
    "p95 latency of LLM calls, by model:",
    "",
    "```promql",
    "histogram_quantile(0.95,",
    "  sum by (model, le) (rate(agentguard_llm_call_duration_seconds_bucket[5m])))",
    "```",
    "",
    "Cost per hour in US dollars, by model:",
    "",
    "```promql",
    "sum by (model) (increase(agentguard_llm_cost_usd_total[1h]))",
    "```",
    "",
    "Prompt-cache hit ratio (cache reads over all input token types):",
    "",
    "```promql",
    'sum(rate(agentguard_llm_tokens_total{token_type="cache_read"}[5m]))',
    "  / sum(rate(agentguard_llm_tokens_total{token_type=~"
    '"input|cache_read|cache_write_5m|cache_write_1h"}[5m]))',
    "```",
    "",
]


def _when(when: tuple[Getter, object]) -> str:
    getter, expected = when
    return f"{getter.describe()} is {expected!r}"


if __name__ == "__main__":
    print(markdown())
