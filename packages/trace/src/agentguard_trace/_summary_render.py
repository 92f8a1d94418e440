"""The session summary as aligned plain text: every duration in seconds, by :func:`_secs`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentguard_trace._summary_model import CostBreakdown, RunCounts, SessionSummary


def render(summary: SessionSummary, title: str) -> str:
    """Render ``summary`` under ``title``."""
    facts = _facts(summary)
    width = max(len(label) for label, _ in facts) + 2
    lines = [title, "=" * len(title)]
    lines += [f"{label + ':':<{width}}{value}" for label, value in facts]
    sections = (_tool_lines, _model_lines, _context_lines, _cost_lines, _error_lines)
    for section in (*sections, _slowest_lines):
        lines += section(summary)
    return "\n".join(lines)


def _facts(summary: SessionSummary) -> list[tuple[str, str]]:
    facts = [
        ("Duration", _span(summary.duration_s)),
        ("Runs", _runs(summary.runs)),
        ("Steps", _steps(summary)),
    ]
    times = summary.step_time
    if summary.success_rate is not None and times.avg_s is not None:
        quantiles = f"p50 {_secs(times.p50_s)}, p95 {_secs(times.p95_s)}"
        if summary.steps_dropped:
            quantiles += f" of the first {summary.steps_recorded:,}"
        facts += [
            ("Success rate", f"{summary.success_rate:.1%}"),
            ("Avg step time", f"{_secs(times.avg_s)} ({quantiles}; max {_secs(times.max_s)})"),
        ]
    facts.append(("Cost", _usd_total(summary.cost)))
    if summary.cost.cache_saved_usd is not None:
        facts.append(("Cache saved", _usd(summary.cost.cache_saved_usd) + " (net of writes)"))
    optional = [
        ("Retries", summary.retries, ""),
        ("Errors", sum(e.count for e in summary.errors), " classified"),
        ("Budget crossings", summary.budget_exceeded, ""),
        ("Loop detections", summary.loops_detected, ""),
        ("Rows not kept", summary.steps_dropped, " (past max_steps; aggregates are complete)"),
        ("Invalid values", summary.invalid_values, " (set aside)"),
    ]
    facts += [(label, f"{count:,}{note}") for label, count, note in optional if count]
    return facts


def _tool_lines(summary: SessionSummary) -> list[str]:
    if not summary.tools:
        return []
    header = ("tool", "calls", "ok", "avg", "max", "total")
    rows = [
        (
            _clean(t.tool),
            f"{t.calls:,}",
            f"{t.success_rate:.1%}",
            _secs(t.avg_s),
            _secs(t.max_s),
            _secs(t.total_s),
        )
        for t in summary.tools
    ]
    return ["", "Tool usage:", *_table(header, rows)]


def _model_lines(summary: SessionSummary) -> list[str]:
    if not summary.models:
        return []
    header = ("model", "calls", "ok", "avg", "max", "tokens", "retries", "cost")
    rows = [
        (
            _clean(m.model),
            f"{m.calls:,}",
            f"{m.success_rate:.1%}",
            _secs(m.avg_s),
            _secs(m.max_s),
            f"{m.tokens.total_tokens:,}",
            f"{m.retries:,}",
            _usd_total(m.cost),
        )
        for m in summary.models
    ]
    return ["", "LLM calls:", *_table(header, rows)]


def _context_lines(summary: SessionSummary) -> list[str]:
    if not summary.context:
        return []
    header = ("agent", "model", "calls", "current", "max", "p95")
    rows = [
        (
            "-" if c.agent is None else _clean(c.agent),
            _clean(c.model),
            f"{c.calls:,}",
            f"{c.current_tokens:,}",
            f"{c.max_tokens:,}",
            f"{round(c.p95_tokens):,}",
        )
        for c in summary.context
    ]
    return ["", "Context size (tokens):", *_table(header, rows, left=2)]


def _cost_lines(summary: SessionSummary) -> list[str]:
    if not summary.models:
        return []
    tokens, cost = summary.tokens, summary.cost
    rows = [
        ("Input", f"{tokens.input_tokens:,}", _usd(cost.input_usd)),
        ("Output", f"{tokens.output_tokens:,}", _usd(cost.output_usd)),
        ("Cache reads", f"{tokens.cache_read_tokens:,}", _usd(cost.cache_read_usd)),
        ("Cache writes 5m", f"{tokens.cache_write_5m_tokens:,}", _usd(cost.cache_write_5m_usd)),
        ("Cache writes 1h", f"{tokens.cache_write_1h_tokens:,}", _usd(cost.cache_write_1h_usd)),
    ]
    if cost.web_search_requests or cost.web_search_usd:
        searches = f"{cost.web_search_requests:,} searches"
        rows.append(("Web search", searches, _usd(cost.web_search_usd)))
    if cost.other_usd:
        rows.append(("Other", "", _usd(cost.other_usd)))
    rows.append(("Total", f"{tokens.total_tokens:,}", _usd_total(cost)))
    lines = ["", "Cost breakdown:", *_table(("token type", "tokens", "cost"), rows)]
    if cost.unpriced_calls:
        unpriced = _count(cost.unpriced_calls, "unpriced call")
        lines.append(f"  {unpriced}: their cost is unknown, not $0")
    if cost.incomplete_calls:
        lines.append(
            f"  {_count(cost.incomplete_calls, 'call')} priced incompletely: no price for "
            f"{_clean(', '.join(cost.left_out))}; the total leaves that out"
        )
    return lines


def _error_lines(summary: SessionSummary) -> list[str]:
    if not summary.errors:
        return []
    rows = [(_clean(e.source), _clean(e.error_kind), f"{e.count:,}") for e in summary.errors]
    return ["", "Errors:", *_table(("source", "kind", "count"), rows, left=2)]


def _slowest_lines(summary: SessionSummary) -> list[str]:
    if not summary.slowest:
        return []
    lines = ["", "Slowest steps:"]
    for rank, slow in enumerate(summary.slowest, 1):
        run = "" if slow.run_id is None else f", run {_clean(slow.run_id)[:8]}"
        lines.append(
            f"  {rank}. Step {slow.step}: {slow.kind} {_clean(slow.name)} "
            f"({_secs(slow.duration_s)}{run})"
        )
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> list[str]:
    """Two-space indented columns: the first ``left`` left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return ("  " + "  ".join(cells)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _span(seconds: float) -> str:
    if seconds < 60:
        return _secs(seconds)
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def _secs(seconds: float | None) -> str:
    """Every time of the summary in seconds: ``12.30s``, ``0.00405s``, ``0.000017s``.

    Two decimals from 1 s; below, 3 significant digits, to the microsecond at most.
    """
    if seconds is None:
        return "n/a"
    if seconds >= 1 or seconds <= 0:
        return f"{seconds:,.2f}s"
    if seconds < 0.0000005:
        return "<0.000001s"
    return f"{seconds:.{min(6, 2 - math.floor(math.log10(seconds)))}f}s"


def _usd(dollars: float) -> str:
    return f"-${-dollars:,.4f}" if dollars < 0 else f"${dollars:,.4f}"


def _usd_total(cost: CostBreakdown) -> str:
    if not cost.unpriced_calls:
        return _usd(cost.known_usd)
    if not cost.priced_calls:
        return "unknown"
    return f"unknown + {_usd(cost.known_usd)}"


def _runs(runs: RunCounts) -> str:
    text = f"{runs.total:,} ({runs.succeeded:,} succeeded, {runs.failed:,} failed"
    if runs.unfinished:
        text += f", {runs.unfinished:,} unfinished"
    return text + ")"


def _steps(summary: SessionSummary) -> str:
    if not summary.steps:
        return "0 (no steps recorded)"
    llm = _count(summary.llm_calls, "LLM call")
    tools = _count(summary.tool_calls, "tool call")
    return f"{summary.steps:,} ({llm}, {tools}, {summary.failed_steps:,} failed)"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _clean(text: str) -> str:
    """``text`` on one line: control characters shown as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
