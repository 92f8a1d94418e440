"""The parameters of the time-series query (``GET /api/v1/metrics``), and their rules.

:func:`parse_query` turns query-string pairs into a :class:`QueryParams` or raises
:class:`InvalidParameter`, which the HTTP app answers with a 400 naming the parameter, the
value and the values allowed. Every parameter is optional; one given must be valid (an empty
value is not), given once, and known: an unknown parameter is refused too, so a typo never
silently falls back to a default. ``agent`` and ``aggregation`` take comma lists;
:attr:`QueryParams.agents` is the one parse of the agents a query reads.

Granularities follow the roll-ups a store keeps (:data:`~agentguard_metrics.store.ROLLUPS`:
1m and 5m for 24 h, 15m for 7 d, 1h for 30 d, 1d for ever): a granularity is allowed for a
timeframe when it is strictly finer than the timeframe and kept for all of it
(:data:`ALLOWED_GRANULARITIES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from agentguard.errors import AgentGuardError

__all__ = [
    "AGGREGATIONS",
    "ALLOWED_GRANULARITIES",
    "DEFAULT_GRANULARITY",
    "FORMATS",
    "GRANULARITIES",
    "GROUPS",
    "MAX_AGENTS",
    "MAX_AGENT_CHARS",
    "MAX_ANSWER_STEPS",
    "PARAMETERS",
    "TIMEFRAMES",
    "InvalidParameter",
    "QueryParams",
    "check_name",
    "check_steps",
    "parse_query",
    "shown",
]

_MINUTE = 60
_HOUR = 3600
_DAY = 86400

TIMEFRAMES: Final[Mapping[str, int]] = {
    "1h": _HOUR,
    "6h": 6 * _HOUR,
    "24h": _DAY,
    "7d": 7 * _DAY,
    "30d": 30 * _DAY,
}
"""Every timeframe, and its length in seconds."""

GRANULARITIES: Final[Mapping[str, int]] = {
    "1m": _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "1h": _HOUR,
    "1d": _DAY,
}
"""Every granularity, and its step in seconds."""

ALLOWED_GRANULARITIES: Final[Mapping[str, tuple[str, ...]]] = {
    "1h": ("1m", "5m", "15m"),
    "6h": ("1m", "5m", "15m", "1h"),
    "24h": ("1m", "5m", "15m", "1h"),
    "7d": ("15m", "1h", "1d"),
    "30d": ("1h", "1d"),
}
"""The granularities allowed for each timeframe: finer than it, and kept for all of it."""

DEFAULT_GRANULARITY: Final[Mapping[str, str]] = {
    "1h": "1m",
    "6h": "5m",
    "24h": "15m",
    "7d": "1h",
    "30d": "1d",
}
"""The granularity used when the query names none."""

GROUPS: Final = (
    "performance",
    "usage",
    "costs",
    "errors",
    "cache",
    "context",
    "tools",
    "breakers",
    "alerts",
    "insights",
)
"""The metric groups a query can ask for (``metrics=``); all of them by default."""

AGGREGATIONS: Final = ("avg", "sum", "min", "max", "p50", "p95", "p99")
"""How each latency point of a time series is computed from the step's observations."""

FORMATS: Final = ("json", "csv", "prometheus")
"""The answer's format."""

PARAMETERS: Final = ("timeframe", "granularity", "metrics", "aggregation", "format", "agent")
"""Every query parameter there is."""

MAX_AGENT_CHARS: Final = 256
"""The longest agent name (or endpoint) a query may name."""

MAX_AGENTS: Final = 20
"""Agents one query may name (``agent=a,b,...``): each is read on its own and added up."""

MAX_ANSWER_STEPS: Final = 15_000
"""Steps one answer may hold: sections (each agent's and their totals; a batch's items)
times the steps of the window. 24 h at 1m (1,440 steps) is 10 sections, at 5m 50."""


class InvalidParameter(AgentGuardError, ValueError):  # noqa: N818 (reads as what the request has)
    """A query parameter is unknown, repeated, or has a value that is not allowed.

    Attributes:
        parameter: The parameter's name.
        value: The value given (the name itself for an unknown parameter).
        allowed: The values that would be accepted.
        message: One sentence for the caller.
    """

    def __init__(self, parameter: str, value: str, allowed: Iterable[str], message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value
        self.allowed: tuple[str, ...] = tuple(allowed)
        self.message = message

    def body(self) -> dict[str, object]:
        """The 400 body: ``{"error": "INVALID_PARAMETERS", "message", "details"}``."""
        return {
            "error": "INVALID_PARAMETERS",
            "message": self.message,
            "details": {
                "parameter": self.parameter,
                "value": self.value,
                "allowedValues": list(self.allowed),
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryParams:
    """A valid time-series query."""

    timeframe: str = "24h"
    """How far back the query reaches (a key of :data:`TIMEFRAMES`)."""
    granularity: str = "15m"
    """The step of every time series (a key of :data:`GRANULARITIES`)."""
    groups: tuple[str, ...] = GROUPS
    """The groups answered, in :data:`GROUPS` order."""
    aggregation: str = "avg"
    """How each latency point is computed: one of :data:`AGGREGATIONS` (a point is that
    figure), or several, comma-separated, each once (``p50,p95,p99``: a point is an object
    with one figure per statistic)."""
    format: str = "json"
    """One of :data:`FORMATS`."""
    agent: str | None = None
    """Only these agents' data, as given: one name or several, comma-separated (read them
    as :attr:`agents`); ``None`` for every agent."""

    def __post_init__(self) -> None:
        _check_combination(self.timeframe, self.granularity)
        for group in self.groups:
            _one_of("metrics", group, GROUPS)
        _check_aggregation(self.aggregation)
        _one_of("format", self.format, FORMATS)
        if self.agent is not None:
            _check_agents(self.agent)
            agents = self.agent.count(",") + 1
            check_steps("agent", self.agent, agents + 1 if agents > 1 else 1, self)

    @property
    def window_s(self) -> int:
        """The timeframe in seconds."""
        return TIMEFRAMES[self.timeframe]

    @property
    def step_s(self) -> int:
        """The granularity in seconds."""
        return GRANULARITIES[self.granularity]

    @property
    def agents(self) -> tuple[str, ...] | None:
        """The agents the query reads, in the order given; ``None`` for every agent.

        The one place a request's agents are parsed: a token's scope is checked against it.
        """
        return None if self.agent is None else tuple(self.agent.split(","))


def _one_of(parameter: str, value: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidParameter(
            parameter,
            value,
            allowed,
            f"Invalid {parameter} {value!r}: use one of {', '.join(allowed)}",
        )


def _check_aggregation(aggregation: str) -> None:
    """Raise :class:`InvalidParameter` unless every comma-separated item is known, once."""
    items = aggregation.split(",")
    for item in items:
        _one_of("aggregation", item, AGGREGATIONS)
    if len(set(items)) != len(items):
        raise InvalidParameter(
            "aggregation",
            aggregation,
            AGGREGATIONS,
            f"Invalid aggregation {aggregation!r}: name each statistic once",
        )


def _check_combination(timeframe: str, granularity: str) -> None:
    """Raise :class:`InvalidParameter` unless ``granularity`` is allowed for ``timeframe``."""
    _one_of("timeframe", timeframe, TIMEFRAMES)
    _one_of("granularity", granularity, GRANULARITIES)
    allowed = ALLOWED_GRANULARITIES[timeframe]
    if granularity not in allowed:
        raise InvalidParameter(
            "granularity",
            granularity,
            allowed,
            f"Invalid granularity {granularity!r} for timeframe {timeframe!r}: "
            f"use one of {', '.join(allowed)} (finer than the timeframe and kept for all of it)",
        )


def check_name(parameter: str, name: str, what: str = "an agent name") -> None:
    """Raise :class:`InvalidParameter` unless ``name`` has 1 to 256 printable characters.

    The error's ``value`` is the name whole (a query string is bounded already); its message
    quotes it cut (:func:`shown`).
    """
    if not name or len(name) > MAX_AGENT_CHARS or not name.isprintable():
        raise InvalidParameter(
            parameter,
            name,
            (),
            f"Invalid {parameter} {shown(name)!r}: give {what} of 1 to {MAX_AGENT_CHARS} "
            "printable characters",
        )


def check_steps(parameter: str, value: str, sections: int, params: QueryParams) -> None:
    """Raise :class:`InvalidParameter` past :data:`MAX_ANSWER_STEPS` (sections x steps)."""
    steps = params.window_s // params.step_s
    if sections * steps > MAX_ANSWER_STEPS:
        raise InvalidParameter(
            parameter,
            shown(value),
            (),
            f"{sections} sections of {steps} steps pass the {MAX_ANSWER_STEPS:,} steps one "
            "answer may hold: use a coarser granularity, or fewer agents or items",
        )


def shown(value: str) -> str:
    """``value`` as an error may quote it: cut to :data:`MAX_AGENT_CHARS` characters."""
    return value if len(value) <= MAX_AGENT_CHARS else value[:MAX_AGENT_CHARS] + "..."


def _check_agents(agent: str) -> None:
    """Raise :class:`InvalidParameter` unless ``agent`` is 1 to 20 distinct valid names."""
    names = agent.split(",")
    if len(names) > MAX_AGENTS:
        raise InvalidParameter(
            "agent",
            agent,
            (),
            f"Too many agents ({len(names)}): name at most {MAX_AGENTS} in one query "
            "(POST /api/v1/metrics/batch answers more, one section each)",
        )
    for name in names:
        check_name("agent", name)
    if len(set(names)) != len(names):
        raise InvalidParameter(
            "agent", agent, (), f"Invalid agent {shown(agent)!r}: name each agent once"
        )


def parse_query(pairs: Iterable[tuple[str, str]]) -> QueryParams:
    """A :class:`QueryParams` from query-string pairs (``request.query_params.multi_items()``).

    Raises:
        InvalidParameter: an unknown or repeated parameter, or a value not allowed.
    """
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in PARAMETERS:
            raise InvalidParameter(
                name,
                name,
                PARAMETERS,
                f"Unknown parameter {name!r}: use one of {', '.join(PARAMETERS)}",
            )
        if name in given:
            raise InvalidParameter(
                name, value, (), f"Parameter {name!r} was given more than once; give it once"
            )
        given[name] = value
    timeframe = given.get("timeframe", "24h")
    _one_of("timeframe", timeframe, TIMEFRAMES)
    granularity = given.get("granularity", DEFAULT_GRANULARITY[timeframe])
    groups: tuple[str, ...] = GROUPS
    if "metrics" in given:
        wanted = given["metrics"].split(",")
        for group in wanted:
            _one_of("metrics", group, GROUPS)
        groups = tuple(g for g in GROUPS if g in wanted)
    return QueryParams(
        timeframe=timeframe,
        granularity=granularity,
        groups=groups,
        aggregation=given.get("aggregation", "avg"),
        format=given.get("format", "json"),
        agent=given.get("agent"),
    )
