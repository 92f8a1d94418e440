"""Managed Agents sessions on the fake: scripted event histories, streamed, listed, retrieved.

A :class:`ManagedSession` scripts what a hosted agent does (model requests with usage, tool
runs of every kind, error events, usage snapshots, events of types not yet known); the fake
turns it into the events ``client.beta.sessions.events.stream`` and ``.list`` return, with ids
and ``processed_at`` times derived from the seed and the script. Events count as processed as
the stream delivers them; a scripted drop cuts the first stream after ``drop_after`` events,
and ``missed_while_dropped`` more are processed before the next connection, which starts
after them (``events.list`` has them).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from agentguard_fake._script import Speed
from agentguard_fake._wire import make_id

SessionRoute: TypeAlias = Literal["sessions", "session", "events", "stream"]

_PATH: Final = re.compile(
    r"(?:/[^/]+)*?/v1/sessions(?:/(?P<id>[^/]+)(?:/events(?P<stream>/stream)?)?)?/?"
)
_START: Final = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class ScriptedDropError(ConnectionResetError):
    """Cuts a session's event stream where the script says; uvicorn then resets the socket."""


def _not_a_scripted_drop(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, ScriptedDropError)


# A scripted drop is the fake working, not failing: keep it out of uvicorn's error log.
logging.getLogger("uvicorn.error").addFilter(_not_a_scripted_drop)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """One model request of the hosted agent: ``span.model_request_start`` and ``_end``."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    speed: Speed | None = None
    is_error: bool = False
    duration_s: float = 1.0
    """Seconds between the start and the end event's ``processed_at``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRun:
    """One tool use and its result: built-in (``agent``), ``mcp`` or ``custom``."""

    name: str
    kind: Literal["agent", "mcp", "custom"] = "agent"
    input: Mapping[str, object] = field(default_factory=dict)
    mcp_server_name: str = "mcp"
    is_error: bool = False
    duration_s: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionError:
    """A ``session.error`` event (``model_overloaded_error``, ``billing_error``, ...)."""

    type: str = "model_overloaded_error"
    message: str = "The model is overloaded."
    retry_status: Literal["retrying", "exhausted", "terminal"] = "retrying"
    mcp_server_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageSnapshot:
    """A ``session.usage`` event: cumulative usage of the model requests so far."""

    list_cost_cents: int | None = None
    """``list_cost.amount`` in US cents; ``None`` prices the requests so far with the server's
    ``list_price`` (no ``list_cost`` without one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RawEvent:
    """Any event, sent as given (``id`` and ``processed_at`` added when missing)."""

    event: Mapping[str, object]


SessionStep: TypeAlias = ModelRequest | ToolRun | SessionError | UsageSnapshot | RawEvent
"""What a :class:`ManagedSession` is scripted from."""

ListPrice: TypeAlias = Callable[[str, ModelRequest], "float | None"]
"""Prices one model request of a session in US dollars: ``(session model, request) -> cost``
(``None``: not priced). The fake knows no prices; the tracer's ``PriceTable`` is one source."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedSession:
    """A Managed Agents session's history, from ``session.status_running`` to its end."""

    steps: Sequence[SessionStep] = ()
    model: str = "claude-sonnet-4-5"
    agent_name: str = "hosted-agent"
    end: Literal["idle", "terminated"] = "idle"
    """The last event: ``session.status_idle`` (with ``stop_reason``) or ``_terminated``."""
    stop_reason: str = "end_turn"
    drop_after: int | None = None
    """Cut the first stream connection after this many events."""
    missed_while_dropped: int = 0
    """Events processed between the cut and the next connection."""
    list_cost_cents: int | None = None
    """The retrieved session's ``usage.list_cost``; ``None`` prices every request with the
    server's ``list_price`` (no ``list_cost`` without one)."""
    budget_cents: int | None = None
    """The session's ``budget.max_list_cost`` (with ``stop_reason="budget_reached"``)."""

    def __post_init__(self) -> None:
        for step in self.steps:
            if not isinstance(step, (ModelRequest, ToolRun, SessionError, UsageSnapshot, RawEvent)):
                raise TypeError(f"ManagedSession steps are session steps, not {step!r}")
        if self.drop_after is not None and self.drop_after < 0:
            raise ValueError(f"drop_after={self.drop_after} must not be negative")


def session_route(path: str) -> tuple[SessionRoute, str | None] | None:
    """What a ``/v1/sessions...`` path asks for, with the session id; ``None`` otherwise."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    session_id = match["id"]
    if session_id is None:
        return "sessions", None
    if match["stream"]:
        return "stream", session_id
    return ("events" if path.rstrip("/").endswith("/events") else "session"), session_id


@dataclass
class StoredSession:
    """One session on the fake: its events and how far they have been processed."""

    id: str
    script: ManagedSession
    events: list[dict[str, object]]
    usage: dict[str, object]
    processed: int = 0
    dropped: bool = False


class _Builder:
    def __init__(self, session_id: str, seed: int, price: ListPrice | None, model: str) -> None:
        self.session_id, self.seed, self.price, self.model = session_id, seed, price, model
        self.events: list[dict[str, object]] = []
        self.clock_s = 0.0
        self.usage = {"input": 0, "output": 0, "read": 0, "write": 0}
        self.cost_usd = 0.0

    def add(self, event: dict[str, object], after_s: float = 0.5) -> str:
        self.clock_s += after_s
        event.setdefault("id", make_id("sevt_", self.seed, self.session_id, len(self.events)))
        event.setdefault("processed_at", (_START + dt.timedelta(seconds=self.clock_s)).isoformat())
        self.events.append(event)
        return str(event["id"])

    def step(self, step: SessionStep) -> None:
        if isinstance(step, ModelRequest):
            start = self.add({"type": "span.model_request_start"})
            usage: dict[str, object] = {
                "input_tokens": step.input_tokens,
                "output_tokens": step.output_tokens,
                "cache_read_input_tokens": step.cache_read_input_tokens,
                "cache_creation_input_tokens": step.cache_creation_input_tokens,
            }
            if step.speed is not None:
                usage["speed"] = step.speed
            end = {"type": "span.model_request_end", "model_request_start_id": start}
            self.add({**end, "model_usage": usage, "is_error": step.is_error}, step.duration_s)
            self.usage["input"] += step.input_tokens
            self.usage["output"] += step.output_tokens
            self.usage["read"] += step.cache_read_input_tokens
            self.usage["write"] += step.cache_creation_input_tokens
            cost = None if self.price is None else self.price(self.model, step)
            self.cost_usd += 0.0 if cost is None else cost
        elif isinstance(step, ToolRun):
            self.tool(step)
        elif isinstance(step, SessionError):
            error: dict[str, object] = {
                "type": step.type,
                "message": step.message,
                "retry_status": {"type": step.retry_status},
            }
            if step.mcp_server_name is not None:
                error["mcp_server_name"] = step.mcp_server_name
            self.add({"type": "session.error", "error": error})
        elif isinstance(step, UsageSnapshot):
            self.add({"type": "session.usage", "usage": self.snapshot(step.list_cost_cents)})
        else:
            self.add(dict(step.event))

    def tool(self, step: ToolRun) -> None:
        content = [{"type": "text", "text": "error" if step.is_error else "ok"}]
        if step.kind == "agent":
            use = self.add({"type": "agent.tool_use", "name": step.name, "input": dict(step.input)})
            result = {"type": "agent.tool_result", "tool_use_id": use}
        elif step.kind == "mcp":
            use = self.add(
                {
                    "type": "agent.mcp_tool_use",
                    "name": step.name,
                    "mcp_server_name": step.mcp_server_name,
                    "input": dict(step.input),
                }
            )
            result = {"type": "agent.mcp_tool_result", "mcp_tool_use_id": use}
        else:
            use = self.add(
                {"type": "agent.custom_tool_use", "name": step.name, "input": dict(step.input)}
            )
            result = {"type": "user.custom_tool_result", "custom_tool_use_id": use}
        self.add({**result, "content": content, "is_error": step.is_error}, step.duration_s)

    def snapshot(self, list_cost_cents: int | None) -> dict[str, object]:
        snapshot: dict[str, object] = {
            "input_tokens": self.usage["input"],
            "output_tokens": self.usage["output"],
            "cache_read_input_tokens": self.usage["read"],
            "cache_creation": {"ephemeral_5m_input_tokens": self.usage["write"]},
        }
        if list_cost_cents is None and self.price is not None:
            list_cost_cents = round(self.cost_usd * 100)
        if list_cost_cents is not None:
            snapshot["list_cost"] = {"amount": str(list_cost_cents), "currency": "USD"}
        return snapshot


class SessionStore:
    """The sessions of one fake server; thread-safe."""

    def __init__(self, *, seed: int, list_price: ListPrice | None = None) -> None:
        self._seed = seed
        self._list_price = list_price
        self._lock = threading.Lock()
        self._sessions: dict[str, StoredSession] = {}
        self._queue: deque[ManagedSession] = deque()

    def clear(self) -> None:
        """Forget every session and queued script."""
        with self._lock:
            self._sessions.clear()
            self._queue.clear()

    def enqueue(self, script: ManagedSession) -> None:
        """Script the next session created with ``POST /v1/sessions``."""
        with self._lock:
            self._queue.append(script)

    @property
    def pending(self) -> tuple[ManagedSession, ...]:
        """Scripts not yet used by a created session."""
        with self._lock:
            return tuple(self._queue)

    def create(self, script: ManagedSession | None = None) -> StoredSession:
        """Add a session from ``script`` (or the next queued one, or an empty one)."""
        with self._lock:
            if script is None:
                script = self._queue.popleft() if self._queue else ManagedSession()
            session_id = make_id("sesn_01", self._seed, "session", len(self._sessions))
            builder = _Builder(session_id, self._seed, self._list_price, script.model)
        builder.add({"type": "session.status_running"})
        for step in script.steps:
            builder.step(step)
        if script.end == "idle":
            builder.add(
                {"type": "session.status_idle", "stop_reason": {"type": script.stop_reason}}
            )
        else:
            builder.add({"type": "session.status_terminated"})
        stored = StoredSession(
            id=session_id,
            script=script,
            events=builder.events,
            usage=builder.snapshot(script.list_cost_cents),
        )
        with self._lock:
            self._sessions[session_id] = stored
        return stored

    def get(self, session_id: str) -> StoredSession | None:
        """The session, or ``None`` when there is none with that id."""
        with self._lock:
            return self._sessions.get(session_id)

    def page(self, stored: StoredSession, *, limit: int, page: str | None) -> dict[str, object]:
        """One page of the processed events, oldest first."""
        with self._lock:
            processed = stored.processed
        start = int(page) if page and page.isdigit() else 0
        end = min(start + max(limit, 1), processed)
        return {
            "data": stored.events[start:end],
            "next_page": str(end) if end < processed else None,
        }

    def stream(self, stored: StoredSession) -> Iterator[dict[str, object]]:
        """The events one stream connection delivers; raises where a drop cuts it.

        Raises:
            ScriptedDropError: The scripted drop, after ``drop_after`` events.
        """
        with self._lock:
            start = stored.processed
            cut = None
            if stored.script.drop_after is not None and not stored.dropped:
                stored.dropped = True
                cut = start + stored.script.drop_after
        for index in range(start, len(stored.events)):
            if cut is not None and index == cut:
                with self._lock:
                    stored.processed = min(
                        cut + stored.script.missed_while_dropped, len(stored.events)
                    )
                raise ScriptedDropError("the scripted drop of the session's event stream")
            with self._lock:
                stored.processed = max(stored.processed, index + 1)
            yield stored.events[index]

    def as_json(self, stored: StoredSession) -> dict[str, object]:
        """The session as ``client.beta.sessions.retrieve`` returns it."""
        created = _START.isoformat()
        script = stored.script
        status = "idle" if script.end == "idle" else "terminated"
        return {
            "id": stored.id,
            "type": "session",
            "status": status,
            "agent": {
                "id": make_id("agent_01", self._seed, stored.id),
                "type": "agent",
                "name": script.agent_name,
                "model": {"id": script.model},
                "version": 1,
                "tools": [],
                "skills": [],
                "mcp_servers": [],
                "execution_identity": {"type": "service_account"},
            },
            "created_at": created,
            "updated_at": created,
            "environment_id": make_id("env_01", self._seed, stored.id),
            "metadata": {},
            "outcome_evaluations": [],
            "resources": [],
            "stats": {},
            "usage": stored.usage,
            "vault_ids": [],
            "budget": (
                None
                if script.budget_cents is None
                else {
                    "type": "limit",
                    "max_list_cost": {"amount": str(script.budget_cents), "currency": "USD"},
                }
            ),
        }
