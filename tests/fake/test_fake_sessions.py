"""The fake's Managed Agents sessions, read through the real SDK's ``client.beta.sessions``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from pydantic import BaseModel

from agentguard_fake import (
    FakeAnthropicServer,
    ManagedSession,
    ModelRequest,
    RawEvent,
    SessionError,
    ToolRun,
    UsageSnapshot,
)


def _fields(event: object) -> dict[str, Any]:
    """An event of the SDK's stream union as a dict (its start and delta events have no id)."""
    assert isinstance(event, BaseModel)
    return event.model_dump()


@pytest.fixture
def client(fake: FakeAnthropicServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0) as sdk:
        yield sdk


SCRIPT = ManagedSession(
    model="claude-haiku-4-5",
    agent_name="triage",
    steps=[
        ModelRequest(input_tokens=2_000_000, output_tokens=100_000),  # $2 + $0.50
        ToolRun(name="grep", duration_s=3.0),
        ToolRun(name="query", kind="mcp", mcp_server_name="db", is_error=True),
        SessionError(type="mcp_connection_failed_error", mcp_server_name="db"),
        UsageSnapshot(),
        RawEvent(event={"type": "agent.future_thing"}),
    ],
)


def test_a_session_streams_its_scripted_events_in_the_sdks_types(
    fake: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    session_id = fake.add_session(SCRIPT)
    session = client.beta.sessions.retrieve(session_id)
    assert (session.id, session.agent.name, session.agent.model.id) == (
        session_id,
        "triage",
        "claude-haiku-4-5",
    )
    assert session.usage.list_cost is not None and session.usage.list_cost.amount == "250"
    events = [_fields(e) for e in client.beta.sessions.events.stream(session_id)]
    assert [e["type"] for e in events] == [
        "session.status_running",
        "span.model_request_start",
        "span.model_request_end",
        "agent.tool_use",
        "agent.tool_result",
        "agent.mcp_tool_use",
        "agent.mcp_tool_result",
        "session.error",
        "session.usage",
        "agent.future_thing",
        "session.status_idle",
    ]
    assert len({e["id"] for e in events}) == len(events)
    use, result = events[3], events[4]
    assert result["tool_use_id"] == use["id"]
    assert (result["processed_at"] - use["processed_at"]).total_seconds() == 3.0
    assert fake.requests[-1].path == f"/v1/sessions/{session_id}/events/stream"
    assert fake.requests[-1].headers["anthropic-beta"] == "managed-agents-2026-04-01"


def test_a_scripted_drop_cuts_the_stream_and_the_list_has_what_was_missed(
    fake: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    session_id = fake.add_session(
        ManagedSession(steps=SCRIPT.steps, drop_after=3, missed_while_dropped=2)
    )
    stream = iter(client.beta.sessions.events.stream(session_id))
    first = [_fields(next(stream))["id"] for _ in range(3)]
    with pytest.raises(httpx2.RemoteProtocolError):
        next(stream)
    listed = [_fields(e)["id"] for e in client.beta.sessions.events.list(session_id, limit=2)]
    assert listed[:3] == first and len(listed) == 5  # paged by 2: three pages
    rest = [_fields(e)["id"] for e in client.beta.sessions.events.stream(session_id)]
    assert len(first) + 2 + len(rest) == 11 and not set(rest) & set(listed)


def test_an_unknown_session_is_the_apis_404(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError, match="sesn_missing"):
        client.beta.sessions.retrieve("sesn_missing")
    with pytest.raises(anthropic.NotFoundError):
        list(client.beta.sessions.events.stream("sesn_missing"))


def test_a_created_session_takes_the_next_queued_script(
    fake: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    fake.enqueue(ManagedSession(agent_name="queued"))
    created = client.beta.sessions.create(agent="agent_1", environment_id="env_1")
    assert created.agent.name == "queued"
    assert client.beta.sessions.create(agent="a", environment_id="e").agent.name == "hosted-agent"
    fake.reset()
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.retrieve(created.id)


def test_a_session_script_refuses_what_is_not_a_step() -> None:
    with pytest.raises(TypeError, match="session steps"):
        ManagedSession(steps=["model request"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="drop_after"):
        ManagedSession(drop_after=-1)


def test_without_a_list_price_a_session_reports_a_list_cost_only_when_scripted() -> None:
    with (
        FakeAnthropicServer(seed=3) as fake,
        anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0) as client,
    ):
        unpriced = client.beta.sessions.retrieve(fake.add_session(SCRIPT))
        assert unpriced.usage.list_cost is None
        scripted = ManagedSession(steps=SCRIPT.steps, list_cost_cents=1234)
        priced = client.beta.sessions.retrieve(fake.add_session(scripted))
        assert priced.usage.list_cost is not None and priced.usage.list_cost.amount == "1234"
        events = [_fields(e) for e in client.beta.sessions.events.stream(fake.add_session(SCRIPT))]
        usage = [e["usage"] for e in events if e["type"] == "session.usage"]
        assert [u["list_cost"] for u in usage] == [None]
