"""@traced runs and @tool calls: their events, their costs and their budgets.

LLM calls go through the real SDK to the project's fake Messages API server.
"""

from __future__ import annotations

import asyncio
import gc
import math
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import pytest

from agentguard import Bus
from agentguard.context import RunContext, current_run
from agentguard.events import (
    BudgetExceeded,
    LLMCallFinished,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.testing import capture_events
from agentguard_fake import FakeAnthropicServer, Reply
from agentguard_trace import BudgetExceededError, Run, RunScope, instrument, tool, traced

MODEL = "claude-sonnet-4-6"  # $3 per million input tokens, $15 per million output tokens
UNPRICED = "claude-nonexistent-9"
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Where is order 1234?"}]
CALL_A = Reply(text="It shipped.", input_tokens=1_000, output_tokens=200)
CALL_B = Reply(text="It is in Lyon.", input_tokens=2_000, output_tokens=100)
CALL_C = Reply(text="It arrives Monday.", input_tokens=500, output_tokens=1_000)
COST_A = (1_000 * 3.00 + 200 * 15.00) / 1e6  # $0.0060
COST_B = (2_000 * 3.00 + 100 * 15.00) / 1e6  # $0.0075
COST_C = (500 * 3.00 + 1_000 * 15.00) / 1e6  # $0.0165

FORMS = ["decorator", "async-decorator", "with", "async-with"]


@pytest.fixture
def client(fake: FakeAnthropicServer, bus: Bus) -> Iterator[anthropic.Anthropic]:
    raw = anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0)
    instrumented = instrument(raw, bus=bus)
    try:
        yield instrumented
    finally:
        instrumented.close()
        raw.close()


@asynccontextmanager
async def _async_client(
    fake: FakeAnthropicServer, bus: Bus
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=fake.url, api_key="test-key", max_retries=0
    ) as raw:
        yield instrument(raw, bus=bus)


def _ask(client: anthropic.Anthropic, model: str = MODEL) -> anthropic.types.Message:
    return client.messages.create(model=model, max_tokens=64, messages=MESSAGES)


def _current() -> RunContext:
    run = current_run()
    assert run is not None, "code inside a run sees the run"
    return run


def _session() -> str:
    """A session id no other test uses: session budgets live for the whole process."""
    return f"session-{uuid.uuid4().hex}"


def _in_run(form: str, bus: Bus, body: Callable[[], object], *, agent: str = "support") -> object:
    """Call ``body`` inside a run made with one of the four ``traced`` forms."""
    if form == "decorator":

        @traced(agent=agent, bus=bus)
        def answer() -> object:
            return body()

        return answer()
    if form == "async-decorator":

        @traced(agent=agent, bus=bus)
        async def answer_async() -> object:
            await asyncio.sleep(0)
            return body()

        return asyncio.run(answer_async())
    if form == "with":
        with traced(agent=agent, bus=bus):
            return body()

    async def main() -> object:
        async with traced(agent=agent, bus=bus):
            await asyncio.sleep(0)
            return body()

    return asyncio.run(main())


def _started_and_finished(events: list[Any]) -> tuple[RunStarted, RunFinished]:
    assert [type(e) for e in events] == [RunStarted, RunFinished], events
    started, finished = events
    assert isinstance(started, RunStarted)
    assert isinstance(finished, RunFinished)
    return started, finished


# Runs: the four forms, results and errors


def test_bare_traced_names_the_agent_after_the_function() -> None:
    result = {"answer": 42}
    seen: list[RunContext] = []

    @traced
    def triage_ticket(ticket: str) -> dict[str, int]:
        """Triage one ticket."""
        seen.append(_current())
        return result

    assert triage_ticket.__name__ == "triage_ticket"
    assert triage_ticket.__doc__ == "Triage one ticket."
    with capture_events() as events:  # a bare @traced publishes on the default bus
        assert triage_ticket("T-1") is result
    started, finished = _started_and_finished(events)
    (run,) = seen
    assert run.agent == started.agent == finished.agent == "triage_ticket"
    assert run.run_id == started.run_id == finished.run_id
    assert run.session_id == started.session_id == finished.session_id
    assert started.parent_run_id is None
    assert finished.ok and finished.error_kind is None
    assert finished.duration_s > 0
    assert finished.cost_usd == 0.0, "a run without LLM calls cost nothing"
    assert current_run() is None, "the run is over after the call"


def test_bare_traced_on_a_coroutine_function() -> None:
    result = object()

    @traced
    async def plan_trip() -> object:
        await asyncio.sleep(0)
        assert _current().agent == "plan_trip"
        return result

    with capture_events() as events:
        assert asyncio.run(plan_trip()) is result
    started, finished = _started_and_finished(events)
    assert started.agent == finished.agent == "plan_trip"
    assert started.run_id == finished.run_id is not None
    assert finished.ok and finished.duration_s > 0


@pytest.mark.parametrize("form", FORMS)
def test_each_form_publishes_run_started_then_run_finished(form: str, bus: Bus) -> None:
    result = object()
    seen: list[RunContext] = []

    def body() -> object:
        seen.append(_current())
        return result

    with capture_events(bus) as events:
        assert _in_run(form, bus, body, agent="support") is result
    started, finished = _started_and_finished(events)
    (run,) = seen
    assert started.agent == finished.agent == run.agent == "support"
    assert started.run_id == finished.run_id == run.run_id
    assert started.session_id == finished.session_id == run.session_id
    assert started.parent_run_id is None
    assert finished.ok and finished.error_kind is None
    assert finished.duration_s > 0
    assert finished.at_unix_s >= started.at_unix_s
    assert current_run() is None


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError("the search backend timed out"), "timeout"),
        (ConnectionRefusedError("no route"), "connection"),
        (KeyError("order_id"), "unknown"),
    ],
    ids=["timeout", "connection", "other"],
)
def test_an_exception_passes_through_unchanged_and_fails_the_run(
    form: str, bus: Bus, error: Exception, kind: str
) -> None:
    def body() -> object:
        raise error

    with capture_events(bus) as events, pytest.raises(type(error)) as raised:
        _in_run(form, bus, body)
    assert raised.value is error
    started, finished = _started_and_finished(events)
    assert finished.run_id == started.run_id
    assert not finished.ok
    assert finished.error_kind == kind
    assert finished.duration_s > 0
    assert current_run() is None


@pytest.mark.parametrize("form", ["async-decorator", "async-with"])
def test_a_cancelled_run_is_reported_as_cancelled(form: str, bus: Bus) -> None:
    async def main() -> None:
        inside = asyncio.Event()

        @traced(agent="waiter", bus=bus)
        async def wait_decorated() -> None:
            inside.set()
            await asyncio.Event().wait()

        async def wait_in_block() -> None:
            async with traced(agent="waiter", bus=bus):
                inside.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(
            wait_decorated() if form == "async-decorator" else wait_in_block()
        )
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_events(bus) as events:
        asyncio.run(main())
    _, finished = _started_and_finished(events)
    assert finished.agent == "waiter"
    assert (finished.ok, finished.error_kind) == (False, "cancelled")


def test_with_traced_without_an_agent_raises_type_error(bus: Bus) -> None:
    scope = traced(bus=bus)
    with (
        capture_events(bus) as events,
        pytest.raises(TypeError, match=r'traced\(agent="'),
        scope,
    ):
        pytest.fail("the block must not run")
    assert events == []
    assert current_run() is None


def test_the_with_block_sees_its_run_and_its_spending(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A)
    with capture_events(bus) as events, traced(agent="support", bus=bus) as run:
        assert isinstance(run, Run)
        assert run.context == _current()
        assert run.cost_usd == 0.0
        _ask(client)
        assert run.cost_usd == pytest.approx(COST_A)
    assert events.of(RunStarted)[0].run_id == run.context.run_id


@pytest.mark.parametrize("agent", ["", 7, b"support", ["support"]])
def test_a_bad_agent_name_is_refused_at_once(agent: Any) -> None:
    with pytest.raises(ValueError, match="agent must be a non-empty string"):
        traced(agent=agent)


@pytest.mark.parametrize("name", ["max_cost_usd", "session_max_cost_usd"])
@pytest.mark.parametrize(
    ("budget", "error"),
    [
        (-0.01, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("0.50", TypeError),
        (True, TypeError),
    ],
    ids=["negative", "nan", "inf", "string", "bool"],
)
def test_a_bad_budget_is_refused_at_once(name: str, budget: Any, error: type[Exception]) -> None:
    options: dict[str, Any] = {name: budget}
    with pytest.raises(error, match=name):
        traced(agent="support", **options)


def test_a_zero_budget_is_allowed() -> None:
    assert traced(agent="support", max_cost_usd=0, session_max_cost_usd=0.0) is not None


def test_traced_refuses_to_decorate_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match="decorates a callable"):
        traced(agent="support")("not a function")  # type: ignore[arg-type]  # the point of the test


# Nesting and concurrency


def test_a_nested_run_records_its_parent_and_its_cost_counts_toward_it(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A, CALL_B, CALL_C)
    session_id = _session()

    @traced(agent="order_lookup", bus=bus)
    def lookup() -> str:
        _ask(client)
        return _current().run_id

    with (
        capture_events(bus) as events,
        traced(agent="support", bus=bus, session_id=session_id) as outer,
    ):
        _ask(client)
        inner_id = lookup()
        _ask(client)
    outer_id = outer.context.run_id
    assert inner_id != outer_id
    outer_started, inner_started = events.of(RunStarted)
    assert (outer_started.run_id, inner_started.run_id) == (outer_id, inner_id)
    assert outer_started.parent_run_id is None
    assert inner_started.parent_run_id == outer_id
    assert inner_started.agent == "order_lookup"
    assert outer_started.session_id == inner_started.session_id == session_id
    inner_finished, outer_finished = events.of(RunFinished)
    assert (inner_finished.run_id, outer_finished.run_id) == (inner_id, outer_id)
    assert inner_finished.session_id == outer_finished.session_id == session_id
    assert [c.run_id for c in events.of(LLMCallFinished)] == [outer_id, inner_id, outer_id]
    assert inner_finished.cost_usd == pytest.approx(COST_B, abs=1e-12)
    assert outer_finished.cost_usd == pytest.approx(COST_A + COST_B + COST_C, abs=1e-12)


def test_concurrent_runs_under_gather_keep_their_own_ids_and_costs(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    fake.enqueue(CALL_A, CALL_A, CALL_A)

    async def main() -> tuple[str, list[str]]:
        inside: list[str] = []
        both_inside = asyncio.Event()
        async with _async_client(fake, bus) as client:

            @traced(agent="researcher", bus=bus)
            async def research(calls: int) -> str:
                inside.append(_current().run_id)
                if len(inside) == 2:
                    both_inside.set()
                await both_inside.wait()
                for _ in range(calls):
                    await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
                    await asyncio.sleep(0)
                return _current().run_id

            async with traced(agent="planner", bus=bus) as outer:
                ids = await asyncio.gather(research(1), research(2))
        return outer.context.run_id, list(ids)

    with capture_events(bus) as events:
        outer_id, (one_call, two_calls) = asyncio.run(main())
    assert len({outer_id, one_call, two_calls}) == 3
    started = {e.run_id: e for e in events.of(RunStarted)}
    assert started[one_call].parent_run_id == started[two_calls].parent_run_id == outer_id
    finished = {e.run_id: e for e in events.of(RunFinished)}
    assert finished[one_call].cost_usd == pytest.approx(COST_A, abs=1e-12)
    assert finished[two_calls].cost_usd == pytest.approx(2 * COST_A, abs=1e-12)
    assert finished[outer_id].cost_usd == pytest.approx(3 * COST_A, abs=1e-12)
    calls = [c.run_id for c in events.of(LLMCallFinished)]
    assert sorted(map(str, calls)) == sorted([one_call, two_calls, two_calls])
    assert len({e.session_id for e in events}) == 1, "gathered runs share the outer session"


def test_the_same_decorated_function_from_four_threads_gives_four_runs(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A, CALL_A, CALL_A, CALL_A)
    all_inside = threading.Barrier(4)
    seen: list[str] = []
    errors: list[BaseException] = []

    @traced(agent="worker", bus=bus)
    def work() -> str:
        all_inside.wait(timeout=10)
        _ask(client)
        return _current().run_id

    def thread_main() -> None:
        try:
            seen.append(work())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread_main) for _ in range(4)]
    with capture_events(bus) as events:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert errors == []
    assert len(set(seen)) == 4
    assert {e.run_id for e in events.of(RunStarted)} == set(seen)
    finished = events.of(RunFinished)
    assert {e.run_id for e in finished} == set(seen)
    for event in finished:
        assert event.ok and event.agent == "worker"
        assert event.cost_usd == pytest.approx(COST_A, abs=1e-12), "each run pays only its call"
    assert all(e.parent_run_id is None for e in events.of(RunStarted))


# Cost


def test_the_run_cost_is_the_sum_of_its_calls(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A, CALL_B, CALL_C)

    @traced(agent="support", bus=bus)
    def answer() -> None:
        for _ in range(3):
            _ask(client)

    with capture_events(bus) as events:
        answer()
    calls = events.of(LLMCallFinished)
    assert [c.cost_usd for c in calls] == pytest.approx([COST_A, COST_B, COST_C], abs=1e-12)
    (finished,) = events.of(RunFinished)
    assert {c.run_id for c in calls} == {finished.run_id}
    assert finished.cost_usd == pytest.approx(COST_A + COST_B + COST_C, abs=1e-12)
    assert finished.cost_usd == pytest.approx(0.03, abs=1e-12)


def test_one_unpriced_call_makes_the_run_cost_unknown_not_cheaper(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A, CALL_B, CALL_C)

    @traced(agent="classifier", bus=bus)
    def classify() -> None:
        _ask(client, model=UNPRICED)

    with capture_events(bus) as events:
        with traced(agent="support", bus=bus):
            _ask(client)
            classify()
        with traced(agent="support", bus=bus):
            _ask(client)
    assert [c.cost_usd is None for c in events.of(LLMCallFinished)] == [False, True, False]
    inner, outer, sibling = events.of(RunFinished)
    assert inner.agent == "classifier" and inner.cost_usd is None
    assert outer.agent == "support" and outer.cost_usd is None
    assert sibling.cost_usd == pytest.approx(COST_C, abs=1e-12), "another run is not affected"


# Budgets


def test_crossing_the_run_budget_publishes_once_and_calls_go_on(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A, CALL_A, CALL_A)
    with capture_events(bus) as events, traced(agent="support", bus=bus, max_cost_usd=0.01) as run:
        for _ in range(3):
            _ask(client)
    assert len(fake.requests) == 3
    (exceeded,) = events.of(BudgetExceeded)
    assert exceeded.scope == "run"
    assert exceeded.limit_usd == 0.01
    assert exceeded.spent_usd == pytest.approx(2 * COST_A, abs=1e-12)
    assert exceeded.run_id == run.context.run_id
    assert exceeded.agent == "support"
    kinds = events.kinds()
    assert kinds.index("budget.exceeded") == kinds.index("llm.call") + 2, "after the 2nd call"
    (finished,) = events.of(RunFinished)
    assert finished.ok and finished.cost_usd == pytest.approx(3 * COST_A, abs=1e-12)


def test_a_run_under_its_budget_publishes_nothing(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A)
    with capture_events(bus) as events, traced(agent="support", bus=bus, max_cost_usd=COST_A):
        _ask(client)
    assert events.of(BudgetExceeded) == [], "spending exactly the budget does not exceed it"


def test_stop_on_budget_refuses_the_next_call_before_any_request(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A, CALL_A, CALL_A)
    with (
        capture_events(bus) as events,
        traced(agent="support", bus=bus, max_cost_usd=0.01, stop_on_budget=True),
    ):
        _ask(client)
        _ask(client)
        assert len(fake.requests) == 2
        with pytest.raises(BudgetExceededError) as refused:
            _ask(client)
        with pytest.raises(BudgetExceededError):
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
        manager = client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES)
        with pytest.raises(BudgetExceededError), manager:
            pytest.fail("a refused stream must not be entered")
        assert len(fake.requests) == 2, "no HTTP request for a refused call"
    error = refused.value
    assert error.scope == "run"
    assert error.limit_usd == 0.01
    assert error.spent_usd == pytest.approx(2 * COST_A, abs=1e-12)
    assert "was not made" in str(error)
    assert len(events.of(LLMCallFinished)) == 2, "a refused call is not an LLM call"
    assert len(events.of(BudgetExceeded)) == 1


def test_stop_on_budget_fails_a_decorated_run_with_the_error(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_C, CALL_C)

    @traced(agent="support", bus=bus, max_cost_usd=0.01, stop_on_budget=True)
    def answer() -> None:
        while True:
            _ask(client)

    with capture_events(bus) as events, pytest.raises(BudgetExceededError):
        answer()
    assert len(fake.requests) == 1
    (finished,) = events.of(RunFinished)
    assert not finished.ok
    assert finished.cost_usd == pytest.approx(COST_C, abs=1e-12)


def test_an_outer_budget_that_stops_refuses_calls_in_nested_runs(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_C)

    @traced(agent="order_lookup", bus=bus)
    def lookup() -> None:
        _ask(client)

    with traced(agent="support", bus=bus, max_cost_usd=0.01, stop_on_budget=True):
        _ask(client)
        with pytest.raises(BudgetExceededError) as refused:
            lookup()
    assert refused.value.scope == "run"
    assert len(fake.requests) == 1


def test_stop_on_budget_with_the_async_client(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(CALL_C, CALL_C)

    async def main() -> BudgetExceededError:
        async with (
            _async_client(fake, bus) as client,
            traced(agent="support", bus=bus, max_cost_usd=0.01, stop_on_budget=True),
        ):
            await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
            with pytest.raises(BudgetExceededError) as refused:
                await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
            with pytest.raises(BudgetExceededError):
                async with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES):
                    pytest.fail("a refused stream must not be entered")
            return refused.value

    with capture_events(bus) as events:
        error = asyncio.run(main())
    assert len(fake.requests) == 1
    assert (error.scope, error.limit_usd) == ("run", 0.01)
    assert error.spent_usd == pytest.approx(COST_C, abs=1e-12)
    assert len(events.of(BudgetExceeded)) == 1


def test_the_session_budget_counts_across_runs_of_the_session(
    fake: FakeAnthropicServer, bus: Bus, client: anthropic.Anthropic
) -> None:
    fake.enqueue(CALL_A, CALL_A, CALL_A)
    session_id = _session()

    def in_session(agent: str) -> RunScope:
        return traced(
            agent=agent,
            bus=bus,
            session_id=session_id,
            session_max_cost_usd=0.01,
            stop_on_budget=True,
        )

    with capture_events(bus) as events:
        with in_session("support"):
            _ask(client)
        assert events.of(BudgetExceeded) == [], "one run alone stays under the session budget"
        with in_session("billing") as second:
            _ask(client)
            with pytest.raises(BudgetExceededError) as refused:
                _ask(client)
        with traced(agent="support", bus=bus, session_id=_session()):
            _ask(client)
    assert len(fake.requests) == 3, "the refused call made no request; another session did"
    (exceeded,) = events.of(BudgetExceeded)
    assert exceeded.scope == "session"
    assert exceeded.limit_usd == 0.01
    assert exceeded.spent_usd == pytest.approx(2 * COST_A, abs=1e-12)
    assert exceeded.session_id == session_id
    assert exceeded.run_id == second.context.run_id
    assert refused.value.scope == "session"
    assert refused.value.spent_usd == pytest.approx(2 * COST_A, abs=1e-12)
    run_costs = [e.cost_usd for e in events.of(RunFinished)]
    assert run_costs == pytest.approx([COST_A, COST_A, COST_A], abs=1e-12), "run costs stay per run"


# Tools


def test_bare_tool_is_named_after_the_function() -> None:
    result = ["doc-1", "doc-2"]

    @tool
    def search_docs(query: str) -> list[str]:
        """Search the docs."""
        return result

    assert search_docs.__name__ == "search_docs"
    assert search_docs.__doc__ == "Search the docs."
    with capture_events(to=ToolCallFinished) as events:  # a bare @tool uses the default bus
        assert search_docs("refunds") is result
    (event,) = events.of(ToolCallFinished)
    assert event.tool == "search_docs"
    assert event.ok and event.error_kind is None
    assert event.duration_s > 0
    assert event.run_id is None, "outside any run"


def test_named_tool_failure_passes_through_and_is_classified(bus: Bus) -> None:
    error = TimeoutError("the warehouse API timed out")

    @tool("warehouse.stock", bus=bus)
    def stock(sku: str) -> int:
        raise error

    with capture_events(bus) as events, pytest.raises(TimeoutError) as raised:
        stock("SKU-1")
    assert raised.value is error
    (event,) = events.of(ToolCallFinished)
    assert event.tool == "warehouse.stock"
    assert (event.ok, event.error_kind) == (False, "timeout")
    assert event.duration_s > 0


def test_tool_calls_inside_a_run_carry_the_run(bus: Bus) -> None:
    @tool(bus=bus)
    async def fetch_order(order_id: int) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"id": order_id}

    @traced(agent="support", bus=bus)
    async def answer() -> str:
        with tool("kb.search", bus=bus):
            pass
        assert await fetch_order(1234) == {"id": 1234}
        async with tool("crm.lookup", bus=bus):
            await asyncio.sleep(0)
        return _current().run_id

    with capture_events(bus) as events:
        run_id = asyncio.run(answer())
    tools = events.of(ToolCallFinished)
    assert [t.tool for t in tools] == ["kb.search", "fetch_order", "crm.lookup"]
    for event in tools:
        assert (event.run_id, event.agent) == (run_id, "support")
        assert event.ok and event.duration_s > 0
    assert events.kinds()[-1] == "run.finished", "tool calls end before their run"


def test_a_cancelled_async_tool_is_reported_as_cancelled(bus: Bus) -> None:
    async def main() -> None:
        inside = asyncio.Event()

        @tool("slow.search", bus=bus)
        async def slow_search() -> None:
            inside.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(slow_search())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_events(bus) as events:
        asyncio.run(main())
    (event,) = events.of(ToolCallFinished)
    assert (event.tool, event.ok, event.error_kind) == ("slow.search", False, "cancelled")


def test_a_failing_tool_block_reports_and_re_raises(bus: Bus) -> None:
    error = ConnectionResetError("peer went away")
    with (
        capture_events(bus) as events,
        pytest.raises(ConnectionResetError) as raised,
        tool("crm.lookup", bus=bus),
    ):
        raise error
    assert raised.value is error
    (event,) = events.of(ToolCallFinished)
    assert (event.tool, event.ok, event.error_kind) == ("crm.lookup", False, "connection")


def test_tool_name_mistakes_fail_fast(bus: Bus) -> None:
    with pytest.raises(ValueError, match="tool name must be a non-empty string"):
        tool("")
    with (
        capture_events(bus) as events,
        pytest.raises(TypeError, match=r'tool\("'),
        tool(bus=bus),
    ):
        pytest.fail("the block must not run")
    assert events == []


# One RunScope entered by several tasks at once (the Scope docstring promises it works)


def test_one_scope_instance_entered_by_two_tasks_at_once(bus: Bus) -> None:
    support = traced(agent="support", bus=bus)

    async def work(gate: asyncio.Event) -> str:
        async with support as run:
            await gate.wait()
            return run.context.run_id

    async def main() -> list[str]:
        first, second = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(work(first)), asyncio.create_task(work(second))]
        await asyncio.sleep(0)
        first.set()  # the first task leaves its block while the second is still inside
        await asyncio.wait(tasks[:1])
        second.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        return [o if isinstance(o, str) else repr(o) for o in outcomes]

    with capture_events(bus) as events:
        ids = asyncio.run(main())
    gc.collect()  # what the failed exits left behind is finalized within this test
    assert all(len(i) == 32 for i in ids), ids
    assert len(set(ids)) == 2
    assert [e.run_id for e in events.of(RunFinished)] == ids
