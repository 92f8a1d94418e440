"""Follow a Managed Agents session (``client.beta.sessions``) and publish our events.

::

    report = watch_session(client, "sesn_...")            # anthropic.Anthropic
    report = await awatch_session(aclient, "sesn_...")    # anthropic.AsyncAnthropic

The watch is one run: model requests become priced ``LLMCallFinished``, tool uses
``ToolCallFinished``, ``session.error`` an ``ErrorClassified``; it ends when the session goes
idle for good, is terminated or deleted, or the stream is lost. A dropped stream is opened
again (``max_reconnects``, ``backoff_s``), backfilled from ``events.list``, each event taken
once by id. Cost mismatches with the session's ``list_cost`` and unknown event types are
counted in :class:`SessionReport`. The mapping of each event: the package README and
docs/architecture.md, "Agents Anthropic's tooling runs".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anthropic
import httpx2

from agentguard import Bus, default_bus
from agentguard_claude_agent._calls import EPISODES, default_prices
from agentguard_claude_agent._follow import Follower, SessionReport, field_of, list_cost_usd
from agentguard_claude_agent.errors import SessionNotFoundError as SessionNotFoundError  # noqa: PLC0414 (its old home: `as` re-exports for mypy)
from agentguard_trace.pricing import PriceTable

if TYPE_CHECKING:
    from anthropic.types.beta import BetaManagedAgentsSession

__all__ = ["SessionReport", "awatch_session", "watch_session"]

_DROPS = (anthropic.APIConnectionError, anthropic.APIStatusError, httpx2.HTTPError)
"""What a lost stream raises: the SDK's errors, and httpx2's when a body is cut mid-read."""


def _check(session_id: object, max_reconnects: object, backoff_s: object) -> str:
    if type(session_id) is not str or not session_id:
        raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
    if type(max_reconnects) is not int or max_reconnects < 0:
        raise ValueError(f"max_reconnects must be an int >= 0, got {max_reconnects!r}")
    if not isinstance(backoff_s, (int, float)) or isinstance(backoff_s, bool) or backoff_s < 0:
        raise ValueError(f"backoff_s must be a number of seconds >= 0, got {backoff_s!r}")
    return session_id


def _follower(
    session: BetaManagedAgentsSession,
    *,
    agent: str | None,
    bus: Bus | None,
    prices: PriceTable | None,
    clock: Callable[[], float],
) -> Follower:
    agent_config = field_of(session, "agent")
    model_config = field_of(agent_config, "model")
    model = field_of(model_config, "id")
    return Follower(
        session_id=session.id,
        agent=agent or str(field_of(agent_config, "name") or "managed-agent"),
        model=model if isinstance(model, str) else "",
        speed=field_of(model_config, "speed"),
        budget_usd=list_cost_usd(field_of(session, "budget"), "max_list_cost"),
        bus=bus or default_bus,
        prices=prices or default_prices(),
        clock=clock,
    )


def _lost(follower: Follower, exc: BaseException, max_reconnects: int) -> None:
    """Count a drop; give up (``ended="disconnected"``) past ``max_reconnects``."""
    follower.reconnects += 1
    EPISODES.failed(
        "claude_agent.session_stream",
        f"the event stream of session {follower.context.session_id} dropped ({exc!r}); "
        + ("giving up" if follower.reconnects > max_reconnects else "resuming"),
    )
    if follower.reconnects > max_reconnects:
        follower.ended = "disconnected"


def _final_check(follower: Follower, final: object) -> None:
    """Cross-check the session's usage at the end (or log why it could not be read)."""
    if isinstance(final, BaseException):
        EPISODES.failed(
            "claude_agent.session_usage", f"retrieving the session's usage failed: {final!r}"
        )
    else:
        follower.cross_check(field_of(final, "usage"))


_ENDED_EARLY = "the stream ended before the session did"


def watch_session(
    client: anthropic.Anthropic,
    session_id: str,
    *,
    agent: str | None = None,
    bus: Bus | None = None,
    prices: PriceTable | None = None,
    max_reconnects: int = 5,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.perf_counter,
) -> SessionReport:
    """Follow a session's events until it ends, publishing ours; see the module docstring.

    Args:
        client: The client that can see the session.
        session_id: The session (``sesn_...``).
        agent: The agent name on our events; the session agent's name by default.
        bus: Where events go; the default bus when ``None``.
        prices: Prices model requests; the tracer's genai-prices table by default.
        max_reconnects: How many times a dropped stream is opened again.
        backoff_s: Seconds between a drop and the next connection.
        sleep: Waits ``backoff_s``; inject one in tests.
        clock: Seconds, monotonic, for the run's duration.

    Returns:
        What was seen.

    Raises:
        SessionNotFoundError: There is no such session.
        ValueError: A bad argument, at once.
        anthropic.APIError: The session could not be retrieved at the start for another
            reason (authentication, the network).
    """
    session_id = _check(session_id, max_reconnects, backoff_s)
    sessions = client.beta.sessions
    try:
        session = sessions.retrieve(session_id)
    except anthropic.NotFoundError:
        raise SessionNotFoundError(session_id) from None
    follower = _follower(session, agent=agent, bus=bus, prices=prices, clock=clock)
    while follower.ended is None:
        try:
            with sessions.events.stream(session_id) as stream:
                for listed in sessions.events.list(session_id, limit=100):
                    if follower.feed(listed):
                        break
                if follower.ended is None:
                    for event in stream:
                        if follower.feed(event):
                            break
            if follower.ended is None:
                _lost(follower, ConnectionError(_ENDED_EARLY), max_reconnects)
        except anthropic.NotFoundError:
            follower.ended = "deleted"
        except _DROPS as exc:
            _lost(follower, exc, max_reconnects)
        if follower.ended is None:
            sleep(backoff_s)
    final: object
    try:
        final = sessions.retrieve(session_id)
    except _DROPS as exc:
        final = exc
    _final_check(follower, final)
    return follower.finish()


async def awatch_session(
    client: anthropic.AsyncAnthropic,
    session_id: str,
    *,
    agent: str | None = None,
    bus: Bus | None = None,
    prices: PriceTable | None = None,
    max_reconnects: int = 5,
    backoff_s: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.perf_counter,
) -> SessionReport:
    """:func:`watch_session` for ``anthropic.AsyncAnthropic``; the same arguments."""
    session_id = _check(session_id, max_reconnects, backoff_s)
    sessions = client.beta.sessions
    try:
        session = await sessions.retrieve(session_id)
    except anthropic.NotFoundError:
        raise SessionNotFoundError(session_id) from None
    follower = _follower(session, agent=agent, bus=bus, prices=prices, clock=clock)
    while follower.ended is None:
        try:
            async with await sessions.events.stream(session_id) as stream:
                async for listed in sessions.events.list(session_id, limit=100):
                    if follower.feed(listed):
                        break
                if follower.ended is None:
                    async for event in stream:
                        if follower.feed(event):
                            break
            if follower.ended is None:
                _lost(follower, ConnectionError(_ENDED_EARLY), max_reconnects)
        except anthropic.NotFoundError:
            follower.ended = "deleted"
        except _DROPS as exc:
            _lost(follower, exc, max_reconnects)
        if follower.ended is None:
            await sleep(backoff_s)
    final: object
    try:
        final = await sessions.retrieve(session_id)
    except _DROPS as exc:
        final = exc
    _final_check(follower, final)
    return follower.finish()
