"""What ``agentguard top`` shows: the snapshot, the screen's state, and its rendering.

Everything here is pure. :class:`Snapshot` is one ``/api/v1/snapshot`` document, checked;
:class:`TopState` is what the screen knows (the recent snapshots, how they came, the current
problem); :func:`render` turns a state and the time now into a rich renderable, so tests
render it to a recording console without a terminal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

RATE_WINDOW_S = 10.0
"""Rates are taken over the snapshots of the last this many seconds of service uptime."""

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
"""The token types of the snapshot, in the order shown."""

BREAKER_STYLES: Mapping[str, str] = {
    "closed": "green",
    "half_open": "yellow",
    "open": "bold red",
}
"""The color of each breaker state; any other state is shown in magenta."""

Source = Literal["stream", "polling"]
"""How snapshots arrive: the service's event stream, or one request a second."""


class NotASnapshot(ValueError):  # noqa: N818 (reads as what the document is)
    """A document that is not a snapshot of the metrics service; the message names the field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One ``llm:<model>`` or ``tool:<name>`` of the snapshot."""

    name: str
    """``llm:<model>`` or ``tool:<name>``."""
    requests: int
    """Calls since the store began."""
    avg_ms: float | None
    """Mean duration in milliseconds (``None`` with no duration recorded)."""
    p95_ms: float | None
    """95th percentile duration in milliseconds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One ``/api/v1/snapshot`` document of the metrics service (DESIGN.md section 5)."""

    uptime_s: float
    """The service's uptime: the clock rates are taken on."""
    executions: int
    """LLM plus tool calls, all-time."""
    active_runs: int
    """Runs in progress now, across processes."""
    errors: int
    """Errors counted, all-time."""
    cost_usd: float
    """Dollars spent, all-time."""
    cache_hit_ratio: float | None
    """Cache-read tokens over all input tokens, 0 to 1 (``None`` with no input yet)."""
    loop_detections: int
    """Tool loops the loop guard caught, all-time."""
    endpoints: tuple[Endpoint, ...] = ()
    """Every endpoint, in the document's order."""
    tokens: Mapping[str, int] = field(default_factory=dict)
    """Tokens by type (``input``, ``output``, ``cache_read``, ...), all-time."""
    breakers: Mapping[str, str] = field(default_factory=dict)
    """Each breaker's state now: ``closed``, ``half_open`` or ``open``."""

    @classmethod
    def from_json(cls, document: object) -> Snapshot:
        """Check and read a decoded snapshot document.

        Raises:
            NotASnapshot: ``document`` is not a snapshot (a field is missing or of the wrong
                type); the message names the field.
        """
        doc = _object(document, "the snapshot")
        uptime_s = _number(doc, "uptime_seconds")
        executions = _count(doc, "total_executions")
        active_runs = _count(doc, "active_executions")
        errors = _count(doc, "error_count")
        endpoints = []
        for name, value in _object(doc.get("endpoints"), "endpoints").items():
            ep = _object(value, f"endpoints.{name}")
            endpoints.append(
                Endpoint(
                    name=name,
                    requests=_count(ep, "requests_total"),
                    avg_ms=_maybe_number(ep, "avg_duration_ms"),
                    p95_ms=_maybe_number(ep, "p95_duration_ms"),
                )
            )
        cost_usd = _number(doc, "cost_usd_total")
        tokens = _object(doc.get("tokens_total"), "tokens_total")
        cache_hit_ratio = _maybe_number(doc, "cache_hit_ratio")
        breakers = _object(doc.get("breakers"), "breakers")
        for name, state in breakers.items():
            if not isinstance(state, str):
                raise NotASnapshot(f"breakers.{name} is not a state name: {state!r}")
        return cls(
            uptime_s=uptime_s,
            executions=executions,
            active_runs=active_runs,
            errors=errors,
            cost_usd=cost_usd,
            cache_hit_ratio=cache_hit_ratio,
            loop_detections=_count(doc, "loop_detections"),
            endpoints=tuple(endpoints),
            tokens={name: _count(tokens, name) for name in tokens},
            breakers={name: str(state) for name, state in breakers.items()},
        )


def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise NotASnapshot(f"{what} is not a JSON object")
    return value


def _number(doc: Mapping[str, object], key: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NotASnapshot(f"{key} is not a number: {value!r}")
    return float(value)


def _maybe_number(doc: Mapping[str, object], key: str) -> float | None:
    """A number, or ``None`` where the document says ``null`` (a missing key is an error)."""
    return None if key in doc and doc[key] is None else _number(doc, key)


def _count(doc: Mapping[str, object], key: str) -> int:
    return round(_number(doc, key))


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    """Rates over the recent snapshots."""

    requests_per_s: float
    """LLM plus tool calls a second."""
    usd_per_h: float
    """Dollars an hour."""


def rates(history: Sequence[Snapshot]) -> Rates | None:
    """The rates between the first and the last of ``history``; ``None`` with one snapshot.

    The time between two snapshots is the difference of the service's uptimes, not of when
    they arrived, so network delays do not make rates jump.
    """
    if len(history) < 2:
        return None
    first, last = history[0], history[-1]
    span_s = last.uptime_s - first.uptime_s
    if span_s <= 0:
        return None
    return Rates(
        requests_per_s=max(0.0, (last.executions - first.executions) / span_s),
        usd_per_h=max(0.0, (last.cost_usd - first.cost_usd) / span_s * 3600.0),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """Why the screen is not up to date, and when the next attempt is."""

    message: str
    """What a user should read first: ``cannot reach http://...``."""
    detail: str | None = None
    """The cause or what to do, shown under the message: ``connection refused``."""
    retry_at_s: float | None = None
    """The monotonic time of the next attempt; ``None`` when the stream goes on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TopState:
    """What the screen knows; each change makes a new state (see :meth:`with_snapshot`)."""

    url: str
    """The service's base URL."""
    history: tuple[Snapshot, ...] = ()
    """The snapshots of the last :data:`RATE_WINDOW_S` of uptime, the latest last."""
    source: Source | None = None
    """How the latest snapshot came."""
    received_at_s: float | None = None
    """The monotonic time the latest snapshot arrived."""
    problem: Problem | None = None
    """The current problem; ``None`` while snapshots arrive."""

    @property
    def latest(self) -> Snapshot | None:
        """The latest snapshot, if any arrived."""
        return self.history[-1] if self.history else None

    def with_snapshot(self, snapshot: Snapshot, *, source: Source, at_s: float) -> TopState:
        """The state after ``snapshot`` arrived at monotonic time ``at_s``: no problem."""
        history = self.history
        last = self.latest
        if last is not None and (
            snapshot.uptime_s < last.uptime_s
            or snapshot.executions < last.executions
            or snapshot.cost_usd < last.cost_usd
        ):
            history = ()  # the service restarted, or it is another service: no rate across
        since = snapshot.uptime_s - RATE_WINDOW_S
        history = (*(s for s in history if s.uptime_s >= since), snapshot)
        return replace(self, history=history, source=source, received_at_s=at_s, problem=None)

    def with_problem(self, problem: Problem) -> TopState:
        """The state with ``problem`` shown; the last snapshot stays on screen."""
        return replace(self, problem=problem)


def render(state: TopState, *, now_s: float, max_endpoints: int | None = None) -> RenderableType:
    """The screen for ``state`` at monotonic time ``now_s``.

    Args:
        state: What to show.
        now_s: The monotonic time now (for the retry countdown and the data's age).
        max_endpoints: Show at most this many endpoints (the busiest), and a line saying how
            many more there are; ``None`` for all of them.
    """
    parts: list[RenderableType] = [_title(state)]
    if state.problem is not None:
        parts.append(_problem(state.problem, now_s))
    snapshot = state.latest
    if snapshot is None:
        if state.problem is None:
            parts.append(Text(f"waiting for the first snapshot from {state.url}", style="dim"))
        return Group(*parts)
    stale = state.problem is not None and state.problem.retry_at_s is not None
    if stale and state.received_at_s is not None:
        age = _duration(max(0.0, now_s - state.received_at_s))
        parts.append(Text(f"last snapshot {age} ago", style="dim"))
    parts.append(_figures(snapshot, rates(state.history), dim=stale))
    side = Table.grid(padding=(0, 4))
    side.add_row(_breakers(snapshot), _tokens(snapshot), _loops(snapshot))
    parts += [Text(), side, Text(), _endpoints(snapshot, max_endpoints)]
    return Group(*parts)


def _title(state: TopState) -> Text:
    title = Text.assemble(("agentguard top", "bold"), "  ", (state.url, "cyan"), "  ")
    if state.problem is not None and state.problem.retry_at_s is not None:
        title.append("● disconnected", "red")
    elif state.source is not None:
        title.append(f"● live ({state.source})", "green")
    else:
        title.append("○ connecting", "yellow")
    title.append("    q quits", "dim")
    return title


def _problem(problem: Problem, now_s: float) -> Text:
    """The problem and the countdown on one line, the detail under it (narrow terminals)."""
    text = Text(problem.message, style="bold red")
    if problem.retry_at_s is not None:
        wait_s = math.ceil(max(0.0, problem.retry_at_s - now_s))
        text.append(f" — retrying in {wait_s}s" if wait_s else " — retrying now", "bold red")
    if problem.detail:
        text.append(f"\n  {problem.detail}", "red")
    return text


def _figures(snapshot: Snapshot, now: Rates | None, *, dim: bool) -> Table:
    """Two rows of ``label value`` pairs: the totals, then money and rates (fits 80 columns)."""
    error_style = "bold red" if snapshot.errors else "bold"
    pairs: list[tuple[str, str, str]] = [
        ("uptime", _duration(snapshot.uptime_s), "bold"),
        ("executions", f"{snapshot.executions:,}", "bold"),
        ("active runs", f"{snapshot.active_runs:,}", "bold"),
        ("errors", f"{snapshot.errors:,}", error_style),
        ("cost", f"${snapshot.cost_usd:,.4f}", "bold"),
        ("cache hit ratio", _percent(snapshot.cache_hit_ratio), "bold"),
        ("requests/s", "-" if now is None else f"{now.requests_per_s:,.2f}", "bold"),
        ("$/h", "-" if now is None else f"${now.usd_per_h:,.4f}", "bold"),
    ]
    cells = [Text.assemble((label, "dim"), " ", (value, style)) for label, value, style in pairs]
    table = Table.grid(padding=(0, 3))
    table.style = "dim" if dim else ""
    table.add_row(*cells[:4])
    table.add_row(*cells[4:])
    return table


def _breakers(snapshot: Snapshot) -> Table:
    table = Table(title="breakers", title_justify="left", box=None, padding=(0, 2))
    table.add_column("breaker")
    table.add_column("state")
    for name, state in sorted(snapshot.breakers.items()):
        table.add_row(name, Text(state, style=BREAKER_STYLES.get(state, "magenta")))
    if not snapshot.breakers:
        table.add_row(Text("none", style="dim"), "")
    return table


def _tokens(snapshot: Snapshot) -> Table:
    table = Table(title="tokens", title_justify="left", box=None, padding=(0, 2))
    table.add_column("type")
    table.add_column("tokens", justify="right")
    names = [t for t in TOKEN_TYPES if t in snapshot.tokens]
    names += sorted(t for t in snapshot.tokens if t not in TOKEN_TYPES)
    for name in names:
        table.add_row(name, f"{snapshot.tokens[name]:,}")
    return table


def _loops(snapshot: Snapshot) -> Table:
    table = Table(title="loops", title_justify="left", box=None, padding=(0, 2))
    table.add_column("detections", justify="right")
    style = "bold yellow" if snapshot.loop_detections else ""
    table.add_row(Text(f"{snapshot.loop_detections:,}", style=style))
    return table


def _endpoints(snapshot: Snapshot, max_rows: int | None) -> Table:
    table = Table(title="endpoints", title_justify="left", expand=False)
    # Numbers keep their width; a long endpoint name is the one abbreviated (…).
    table.add_column("endpoint")
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("avg ms", justify="right", no_wrap=True)
    table.add_column("p95 ms", justify="right", no_wrap=True)
    busiest = sorted(snapshot.endpoints, key=lambda e: (-e.requests, e.name))
    shown = busiest if max_rows is None else busiest[: max(0, max_rows)]
    for ep in shown:
        table.add_row(ep.name, f"{ep.requests:,}", _ms(ep.avg_ms), _ms(ep.p95_ms))
    if len(shown) < len(busiest):
        table.add_row(Text(f"… {len(busiest) - len(shown)} more", style="dim"), "", "", "")
    if not busiest:
        table.add_row(Text("no calls yet", style="dim"), "", "", "")
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"
