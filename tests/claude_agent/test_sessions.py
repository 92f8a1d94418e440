"""watch_session against Managed Agents sessions replayed by the fake API."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator

import anthropic
import pytest

from agentguard import Bus
from agentguard.events import (
    BudgetExceeded,
    ErrorClassified,
    LLMCallFinished,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.testing import capture_events
from agentguard_claude_agent import (
    SessionNotFoundError,
    SessionReport,
    awatch_session,
    watch_session,
)
from agentguard_claude_agent._calls import EPISODES
from agentguard_fake import (
    FakeAnthropicServer,
    ManagedSession,
    ModelRequest,
    RawEvent,
    SessionError,
    ToolRun,
    UsageSnapshot,
)
from support.list_price import list_price

MODEL = "claude-sonnet-4-5"
REQUESTS = (
    ModelRequest(input_tokens=40_000, output_tokens=900, cache_creation_input_tokens=12_000),
    ModelRequest(input_tokens=800, output_tokens=300, cache_read_input_tokens=52_000, speed="fast"),
    ModelRequest(input_tokens=500, output_tokens=40, cache_read_input_tokens=52_800),
)


def _script(**options: object) -> ManagedSession:
    first, second, third = REQUESTS
    return ManagedSession(
        model=MODEL,
        agent_name="researcher",
        steps=[
            first,
            ToolRun(name="bash", duration_s=2.5),
            ToolRun(name="search", kind="mcp", mcp_server_name="docs", duration_s=0.75),
            SessionError(type="model_overloaded_error", retry_status="retrying"),
            second,
            ToolRun(name="lookup", kind="custom", is_error=True, duration_s=4.0),
            SessionError(type="mcp_connection_failed_error", mcp_server_name="docs"),
            UsageSnapshot(),
            RawEvent(event={"type": "agent.brand_new_kind", "detail": 1}),
            third,
            SessionError(type="billing_error", retry_status="terminal"),
        ],
        **options,  # type: ignore[arg-type]
    )


def _cost(request: ModelRequest) -> float:
    cost = list_price(MODEL, request)
    assert cost is not None
    return cost


@pytest.fixture
def client(fake: FakeAnthropicServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.url, api_key="test", max_retries=0) as sdk:
        yield sdk


def _assert_replayed(report: SessionReport, events: list[object], session_id: str) -> None:
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert [(c.input_tokens, c.output_tokens) for c in calls] == [
        (r.input_tokens, r.output_tokens) for r in REQUESTS
    ]
    assert [c.cache_read_tokens for c in calls] == [r.cache_read_input_tokens for r in REQUESTS]
    assert [c.cache_write_5m_tokens for c in calls] == [12_000, 0, 0]
    assert [c.speed for c in calls] == [None, "fast", None]
    assert [c.cost_usd for c in calls] == pytest.approx([_cost(r) for r in REQUESTS], rel=1e-12)
    assert all(c.model == MODEL and c.duration_s == 1.0 for c in calls)
    total = math.fsum(_cost(r) for r in REQUESTS)
    assert report.cost_usd == pytest.approx(total, rel=1e-12)
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert len(finished) == 1 and finished[0].cost_usd == pytest.approx(total, rel=1e-12)
    assert finished[0].ok and finished[0].agent == "researcher"
    assert finished[0].session_id == session_id

    tools = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(t.tool, t.duration_s, t.ok, t.error_kind) for t in tools] == [
        ("bash", 2.5, True, None),
        ("mcp__docs__search", 0.75, True, None),
        ("lookup", 4.0, False, "tool_error"),
    ]
    errors = [e for e in events if isinstance(e, ErrorClassified)]
    assert [(e.source, e.error_kind, e.retryable) for e in errors] == [
        ("llm", "overloaded", True),
        ("tool", "connection", True),
        ("llm", "spend_limited", False),
    ]
    assert report.unknown_events == {"agent.brand_new_kind": 1}
    assert report.cost_mismatches == 0
    assert report.list_cost_usd == pytest.approx(round(total * 100) / 100)
    assert report.ended == "end_turn"


def test_a_session_replayed_publishes_what_the_fake_scripted(
    fake: FakeAnthropicServer, client: anthropic.Anthropic, bus: Bus
) -> None:
    session_id = fake.add_session(_script())
    with capture_events(bus) as events:
        report = watch_session(client, session_id, bus=bus)
    _assert_replayed(report, list(events), session_id)
    assert report.reconnects == 0 and report.events == 19
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)


def test_a_dropped_stream_is_resumed_without_double_counting(
    fake: FakeAnthropicServer, client: anthropic.Anthropic, bus: Bus
) -> None:
    # Cut after the first request and the bash tool's use; its result and the MCP tool's
    # use happen while nobody listens, so only events.list has them.
    session_id = fake.add_session(_script(drop_after=4, missed_while_dropped=2))
    sleeps: list[float] = []
    with capture_events(bus) as events:
        report = watch_session(client, session_id, bus=bus, sleep=sleeps.append, backoff_s=0.25)
    _assert_replayed(report, list(events), session_id)
    assert report.reconnects == 1 and sleeps == [0.25]
    assert report.events == 19


def test_the_async_watcher_resumes_the_same_way(fake: FakeAnthropicServer, bus: Bus) -> None:
    session_id = fake.add_session(_script(drop_after=6, missed_while_dropped=3))

    async def no_wait(seconds: float) -> None:
        return None

    async def main() -> SessionReport:
        async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="test") as sdk:
            return await awatch_session(sdk, session_id, bus=bus, sleep=no_wait)

    with capture_events(bus) as events:
        report = asyncio.run(main())
    _assert_replayed(report, list(events), session_id)
    assert report.reconnects == 1


def test_a_list_cost_that_disagrees_is_logged_and_counted(
    fake: FakeAnthropicServer,
    client: anthropic.Anthropic,
    bus: Bus,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session_id = fake.add_session(
        ManagedSession(
            model=MODEL,
            steps=[REQUESTS[0], UsageSnapshot(list_cost_cents=9_999)],
            list_cost_cents=round(_cost(REQUESTS[0]) * 100),
        )
    )
    EPISODES.recovered("claude_agent.list_cost")  # a fresh episode: its first line is logged
    caplog.clear()
    with caplog.at_level(logging.WARNING, "agentguard.claude_agent"):
        report = watch_session(client, session_id, bus=bus)
    assert report.cost_mismatches == 1  # the snapshot's; the session's final usage agrees
    assert report.cost_usd == pytest.approx(_cost(REQUESTS[0]))
    assert "list cost of $99.99" in caplog.text


def test_a_session_that_does_not_exist_is_a_clear_error(
    client: anthropic.Anthropic, bus: Bus
) -> None:
    with capture_events(bus) as events, pytest.raises(SessionNotFoundError, match="sesn_nope"):
        watch_session(client, "sesn_nope", bus=bus)
    assert list(events) == []


def test_a_stream_that_keeps_dropping_ends_the_watch_not_the_process(
    fake: FakeAnthropicServer, client: anthropic.Anthropic, bus: Bus
) -> None:
    session_id = fake.add_session(_script(drop_after=2))
    with capture_events(bus) as events:
        report = watch_session(client, session_id, bus=bus, max_reconnects=0, sleep=lambda s: None)
    assert report.ended == "disconnected" and report.reconnects == 1
    finished = events.of(RunFinished)
    assert len(finished) == 1 and not finished[0].ok


def test_a_terminated_session_finishes_the_run_not_ok(
    fake: FakeAnthropicServer, client: anthropic.Anthropic, bus: Bus
) -> None:
    session_id = fake.add_session(
        ManagedSession(
            steps=[SessionError(type="model_rate_limited_error", retry_status="exhausted")],
            end="terminated",
        )
    )
    with capture_events(bus) as events:
        report = watch_session(client, session_id, bus=bus, agent="mine")
    assert report.ended == "terminated"
    (finished,) = events.of(RunFinished)
    assert not finished.ok and finished.error_kind == "rate_limited" and finished.agent == "mine"


def test_a_session_its_budget_stopped_publishes_budget_exceeded(
    fake: FakeAnthropicServer, client: anthropic.Anthropic, bus: Bus
) -> None:
    session_id = fake.add_session(
        ManagedSession(
            model=MODEL,
            steps=[REQUESTS[0], UsageSnapshot()],
            stop_reason="budget_reached",
            budget_cents=20,
        )
    )
    with capture_events(bus) as events:
        report = watch_session(client, session_id, bus=bus)
    assert report.ended == "budget_reached"
    (exceeded,) = events.of(BudgetExceeded)
    assert (exceeded.scope, exceeded.limit_usd) == ("session", 0.20)
    assert exceeded.spent_usd == pytest.approx(round(_cost(REQUESTS[0]) * 100) / 100)
    assert not events.of(RunFinished)[0].ok


def test_a_session_created_through_the_sdk_is_scripted_by_the_queue(
    fake: FakeAnthropicServer, client: anthropic.Anthropic, bus: Bus
) -> None:
    fake.enqueue(ManagedSession(steps=[REQUESTS[2]]))
    session = client.beta.sessions.create(agent="agent_1", environment_id="env_1")
    report = watch_session(client, session.id, bus=bus)
    assert report.model_requests == 1
    assert report.cost_usd == pytest.approx(_cost(REQUESTS[2]))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"session_id": ""}, "session_id"),
        ({"max_reconnects": -1}, "max_reconnects"),
        ({"backoff_s": -0.5}, "backoff_s"),
    ],
)
def test_bad_arguments_fail_at_once(
    client: anthropic.Anthropic, arguments: dict[str, object], message: str
) -> None:
    kwargs: dict[str, object] = {"session_id": "sesn_1", **arguments}
    with pytest.raises(ValueError, match=message):
        watch_session(client, **kwargs)  # type: ignore[arg-type]
