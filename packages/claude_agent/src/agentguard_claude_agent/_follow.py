"""One Managed Agents session's events turned into ours: no I/O here, the drivers feed it."""

from __future__ import annotations

import datetime as dt
import logging
import math
import typing
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from anthropic.types.beta.sessions import BetaManagedAgentsStreamSessionEvents

from agentguard import Bus
from agentguard.context import RunContext, new_id
from agentguard.errorkinds import ErrorKind
from agentguard.events import (
    BudgetExceeded,
    ErrorClassified,
    ErrorSource,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard_claude_agent._calls import EPISODES, llm_call, publish
from agentguard_trace.pricing import PriceTable
from agentguard_trace.usage import read_usage

_logger = logging.getLogger("agentguard.claude_agent")
_WARNED: set[str] = set()
"""Unknown event types already logged (once per process each)."""
_MAX_SEEN: Final = 100_000
_MAX_PENDING: Final = 10_000

# What a session.error's type is, in the core's ErrorKind values, and where it came from.
_ERRORS: Final[Mapping[str, tuple[str, ErrorSource]]] = {
    "model_overloaded_error": (ErrorKind.OVERLOADED.value, "llm"),
    "model_rate_limited_error": (ErrorKind.RATE_LIMITED.value, "llm"),
    "model_request_failed_error": (ErrorKind.SERVER_ERROR.value, "llm"),
    "billing_error": (ErrorKind.SPEND_LIMITED.value, "llm"),
    "compaction_limit_reached_error": (ErrorKind.CONTEXT_WINDOW_EXCEEDED.value, "llm"),
    "timeout_error": (ErrorKind.TIMEOUT.value, "other"),
    "mcp_connection_failed_error": (ErrorKind.CONNECTION.value, "tool"),
    "mcp_authentication_failed_error": (ErrorKind.AUTH.value, "tool"),
    "credential_host_unreachable_error": (ErrorKind.CONNECTION.value, "other"),
    "tool_use_limit_reached_error": (ErrorKind.INVALID_REQUEST.value, "tool"),
    "repository_authentication_error": (ErrorKind.AUTH.value, "other"),
    "repository_forbidden_error": (ErrorKind.PERMISSION.value, "other"),
    "repository_not_found_error": (ErrorKind.NOT_FOUND.value, "other"),
    "repository_checkout_error": (ErrorKind.UNKNOWN.value, "other"),
    "repository_clone_error": (ErrorKind.CONNECTION.value, "other"),
}
_TOOL_USES: Final[Mapping[str, str]] = {
    "agent.tool_use": "",
    "agent.mcp_tool_use": "mcp",
    "agent.custom_tool_use": "custom",
}
_TOOL_RESULTS: Final[Mapping[str, str]] = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
}
_ENDS_WATCH: Final = frozenset({"session.status_terminated", "session.deleted"})


def _known_types() -> frozenset[str]:
    """Every event type the installed SDK knows, read from its stream-event union."""
    union = typing.get_args(BetaManagedAgentsStreamSessionEvents)[0]
    found: set[str] = set()
    for cls in typing.get_args(union):
        annotation = getattr(cls, "model_fields", {}).get("type")
        if annotation is not None:
            found.update(str(value) for value in typing.get_args(annotation.annotation))
    return frozenset(found)


KNOWN_TYPES: Final = _known_types()


def field_of(obj: object, name: str) -> Any:
    """``obj.name`` of an SDK model or ``obj[name]`` of a dict; ``None`` when absent."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _mapping(obj: object) -> Mapping[str, object]:
    if isinstance(obj, Mapping):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dump() if callable(dump) else {}


def _when(value: object) -> float | None:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def list_cost_usd(usage: object, name: str = "list_cost") -> float | None:
    """``usage.list_cost`` in US dollars (it is sent in cents); ``None`` if absent or not USD."""
    cost = field_of(usage, name)
    amount, currency = field_of(cost, "amount"), field_of(cost, "currency")
    if currency != "USD" or not isinstance(amount, str) or not amount.isdigit():
        return None
    return int(amount) / 100


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionReport:
    """What :func:`watch_session` saw of one session."""

    session_id: str
    """The session watched."""
    agent: str
    """The agent name the events carry."""
    run_id: str
    """The run id the events carry."""
    ended: str
    """Why watching stopped: the idle ``stop_reason`` (``end_turn``, ``retries_exhausted``,
    ...), ``terminated``, ``deleted``, or ``disconnected`` when the stream could not be
    resumed."""
    events: int
    """Distinct events processed (a resumed stream's repeats are not counted twice)."""
    model_requests: int
    """``LLMCallFinished`` published."""
    tool_calls: int
    """``ToolCallFinished`` published."""
    errors: int
    """``ErrorClassified`` published."""
    cost_usd: float | None
    """Our price of the model requests; ``None`` when one could not be priced."""
    list_cost_usd: float | None
    """The session's own latest ``list_cost`` (whole cents), if it reported one."""
    cost_mismatches: int
    """Usage snapshots whose ``list_cost`` differed from our sum by more than a cent."""
    reconnects: int
    """Times the stream dropped and was resumed."""
    unknown_events: Mapping[str, int] = field(default_factory=dict)
    """Events of types this SDK does not know, by type: counted and ignored."""
    bad_events: int = 0
    """Events that could not be read (logged once per episode, ignored)."""


class Follower:
    """Turns a session's events into ours, once each, in the order they come."""

    def __init__(
        self,
        *,
        session_id: str,
        agent: str,
        model: str,
        speed: str | None,
        budget_usd: float | None,
        bus: Bus,
        prices: PriceTable,
        clock: Callable[[], float],
    ) -> None:
        self.context = RunContext(run_id=new_id(), agent=agent, session_id=session_id)
        self._model = model
        self._speed = speed
        self._budget_usd = budget_usd
        self._bus = bus
        self._prices = prices
        self._clock = clock
        self._started_s = clock()
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._requests: dict[str, float | None] = {}
        self._tools: dict[str, tuple[str, float | None]] = {}
        self._spent_usd = 0.0
        self._unpriced = 0
        self.model_requests = 0
        self.tool_calls = 0
        self.errors = 0
        self.events = 0
        self.bad_events = 0
        self.reconnects = 0
        self.cost_mismatches = 0
        self.list_cost_usd: float | None = None
        self.unknown: dict[str, int] = {}
        self.ended: str | None = None
        self._last_error_kind: str | None = None
        publish(
            bus,
            RunStarted(run_id=self.context.run_id, agent=agent, session_id=session_id),
        )

    @property
    def cost_usd(self) -> float | None:
        """What the model requests cost so far; ``None`` when one was unpriced."""
        return None if self._unpriced else self._spent_usd

    def feed(self, event: object) -> bool:
        """Take one event (again after a resume is fine); ``True`` once watching should stop."""
        event_id = field_of(event, "id")
        if isinstance(event_id, str):
            if event_id in self._seen:
                return self.ended is not None
            self._seen.add(event_id)
            self._seen_order.append(event_id)
            if len(self._seen_order) > _MAX_SEEN:
                self._seen.discard(self._seen_order.popleft())
        self.events += 1
        try:
            self._handle(event)
        except Exception as exc:  # noqa: BLE001 (an event we misread never stops the watcher)
            self.bad_events += 1
            EPISODES.failed("claude_agent.session_event", "reading a session event failed", exc)
        return self.ended is not None

    def _handle(self, event: object) -> None:
        kind = field_of(event, "type")
        at = _when(field_of(event, "processed_at"))
        if kind == "span.model_request_start":
            self._remember(self._requests, str(field_of(event, "id")), at)
        elif kind == "span.model_request_end":
            self._model_request(event, at)
        elif kind in _TOOL_USES:
            name = str(field_of(event, "name") or "unknown")
            if _TOOL_USES[kind] == "mcp":
                name = f"mcp__{field_of(event, 'mcp_server_name')}__{name}"
            self._remember(self._tools, str(field_of(event, "id")), (name, at))
        elif kind in _TOOL_RESULTS:
            self._tool_result(event, str(field_of(event, _TOOL_RESULTS[kind])), at)
        elif kind == "session.error":
            self._error(field_of(event, "error"))
        elif kind == "session.usage":
            self.cross_check(field_of(event, "usage"))
        else:
            self._status(str(kind), event)

    def _status(self, kind: str, event: object) -> None:
        if kind == "session.status_idle":
            reason = field_of(field_of(event, "stop_reason"), "type")
            if reason == "budget_reached":
                self._budget_reached()
            if reason != "requires_action":  # waits on the client: not the end
                self.ended = str(reason or "idle")
        elif kind in _ENDS_WATCH:
            self.ended = kind.rpartition(".")[2].removeprefix("status_")
        elif kind not in KNOWN_TYPES:
            name = kind[:64]
            self.unknown[name] = self.unknown.get(name, 0) + 1
            if len(self.unknown) > 100:
                del self.unknown[next(iter(self.unknown))]
            if name not in _WARNED and len(_WARNED) < 100:
                _WARNED.add(name)
                _logger.warning(
                    "session events of type %r are not known to this SDK: counted, ignored", name
                )

    @staticmethod
    def _remember(pending: dict[str, Any], key: str, value: object) -> None:
        pending[key] = value
        if len(pending) > _MAX_PENDING:
            del pending[next(iter(pending))]

    def _model_request(self, event: object, at: float | None) -> None:
        began = self._requests.pop(str(field_of(event, "model_request_start_id")), None)
        usage = dict(_mapping(field_of(event, "model_usage")))
        if usage.get("speed") is None and self._speed is not None:
            usage["speed"] = self._speed
        failed = field_of(event, "is_error") is True
        call = llm_call(
            self._prices,
            self._model,
            read_usage(usage),
            run=self.context,
            duration_s=0.0 if at is None or began is None else at - began,
            at_unix_s=at,
            ok=not failed,
            error_kind=(self._last_error_kind or "unknown") if failed else None,
        )
        publish(self._bus, call)
        self.model_requests += 1
        if call.cost_usd is None:
            self._unpriced += 1
        else:
            self._spent_usd = math.fsum((self._spent_usd, call.cost_usd))

    def _tool_result(self, event: object, use_id: str, at: float | None) -> None:
        pending = self._tools.pop(use_id, None)
        if pending is None:
            return  # its use came before we watched: no duration to tell
        name, began = pending
        failed = field_of(event, "is_error") is True
        publish(
            self._bus,
            ToolCallFinished(
                at_unix_s=at if at is not None else self._clock(),
                run_id=self.context.run_id,
                agent=self.context.agent,
                session_id=self.context.session_id,
                tool=name,
                duration_s=0.0 if at is None or began is None else max(at - began, 0.0),
                ok=not failed,
                error_kind="tool_error" if failed else None,
            ),
        )
        self.tool_calls += 1

    def _error(self, error: object) -> None:
        error_type = str(field_of(error, "type") or "unknown_error")
        kind, source = _ERRORS.get(error_type, ("unknown", "other"))
        retry = field_of(field_of(error, "retry_status"), "type")
        self._last_error_kind = kind if source == "llm" else self._last_error_kind
        publish(
            self._bus,
            ErrorClassified(
                run_id=self.context.run_id,
                agent=self.context.agent,
                session_id=self.context.session_id,
                source=source,
                error_kind=kind,
                retryable=retry == "retrying",
                exception_type=f"session.error:{error_type}"[:128],
            ),
        )
        self.errors += 1

    def _budget_reached(self) -> None:
        """The session's own budget stopped it: ``BudgetExceeded`` for the session."""
        spent = self.list_cost_usd if self.list_cost_usd is not None else self._spent_usd
        publish(
            self._bus,
            BudgetExceeded(
                run_id=self.context.run_id,
                agent=self.context.agent,
                session_id=self.context.session_id,
                scope="session",
                limit_usd=self._budget_usd if self._budget_usd is not None else spent,
                spent_usd=spent,
            ),
        )

    def cross_check(self, usage: object) -> None:
        """Compare a usage snapshot's ``list_cost`` with our sum; a mismatch is counted."""
        reported = list_cost_usd(usage)
        if reported is None:
            return
        self.list_cost_usd = reported
        ours = self.cost_usd
        if ours is not None and abs(ours - reported) > 0.01 + 1e-9:
            self.cost_mismatches += 1
            EPISODES.failed(
                "claude_agent.list_cost",
                f"session {self.context.session_id} reports a list cost of ${reported:.2f}, "
                f"our prices sum to ${ours:.4f}",
            )

    def finish(self, ended: str | None = None) -> SessionReport:
        """Publish ``RunFinished`` and say what was seen."""
        self.ended = self.ended or ended or "disconnected"
        ok = self.ended == "end_turn"
        publish(
            self._bus,
            RunFinished(
                run_id=self.context.run_id,
                agent=self.context.agent,
                session_id=self.context.session_id,
                duration_s=self._clock() - self._started_s,
                ok=ok,
                error_kind=None if ok else (self._last_error_kind or "unknown"),
                cost_usd=self.cost_usd,
            ),
        )
        return SessionReport(
            session_id=self.context.session_id,
            agent=self.context.agent,
            run_id=self.context.run_id,
            ended=self.ended,
            events=self.events,
            model_requests=self.model_requests,
            tool_calls=self.tool_calls,
            errors=self.errors,
            cost_usd=self.cost_usd,
            list_cost_usd=self.list_cost_usd,
            cost_mismatches=self.cost_mismatches,
            reconnects=self.reconnects,
            unknown_events=dict(self.unknown),
            bad_events=self.bad_events,
        )
