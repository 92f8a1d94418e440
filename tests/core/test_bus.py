from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable

import pytest

from agentguard import Bus, NoRunningLoopError
from agentguard.events import (
    EVENT_TYPES,
    BreakerRejected,
    Event,
    LLMCallFinished,
    ToolCallFinished,
)
from agentguard.testing import FakeClock


def _tool(i: int = 0) -> ToolCallFinished:
    return ToolCallFinished(tool=f"t{i}", duration_s=0.01)


def test_handlers_get_the_events_they_subscribed_to_in_subscription_order() -> None:
    bus = Bus()
    seen: list[tuple[str, str]] = []
    bus.subscribe(lambda e: seen.append(("all", e.kind)))
    bus.subscribe(lambda e: seen.append(("tool", e.kind)), to=ToolCallFinished)
    bus.subscribe(lambda e: seen.append(("all2", e.kind)))
    bus.publish(_tool())
    bus.publish(BreakerRejected(breaker="b"))
    assert seen == [
        ("all", "tool.call"),
        ("tool", "tool.call"),
        ("all2", "tool.call"),
        ("all", "breaker.rejected"),
        ("all2", "breaker.rejected"),
    ]


def test_every_event_class_can_be_subscribed_to() -> None:
    bus = Bus()
    event = _tool()
    for cls in EVENT_TYPES:
        seen: list[Event] = []
        with bus.subscribe(seen.append, to=cls):
            bus.publish(event)
        assert seen == ([event] if cls is ToolCallFinished else [])


def test_closing_stops_delivery_and_is_idempotent() -> None:
    bus = Bus()
    seen: list[Event] = []
    subscription = bus.subscribe(seen.append)
    bus.publish(_tool(1))
    subscription.close()
    subscription.close()
    bus.publish(_tool(2))
    assert [e.tool for e in seen if isinstance(e, ToolCallFinished)] == ["t1"]
    assert len(seen) == 1
    assert subscription.closed
    assert "closed" in repr(subscription)


def test_subscription_is_a_context_manager() -> None:
    bus = Bus()
    seen: list[Event] = []
    with bus.subscribe(seen.append, to=ToolCallFinished) as subscription:
        bus.publish(_tool())
    bus.publish(_tool())
    assert len(seen) == 1
    assert subscription.closed


def test_the_same_handler_twice_is_two_subscriptions() -> None:
    bus = Bus()
    seen: list[Event] = []
    first = bus.subscribe(seen.append)
    bus.subscribe(seen.append)
    bus.publish(_tool())
    first.close()
    bus.publish(_tool())
    assert len(seen) == 3


def test_wants_tells_whether_anyone_listens() -> None:
    bus = Bus()
    assert not bus.wants(LLMCallFinished)
    with bus.subscribe(lambda e: None, to=LLMCallFinished):
        assert bus.wants(LLMCallFinished)
        assert not bus.wants(ToolCallFinished)
    assert not bus.wants(LLMCallFinished)


@pytest.mark.parametrize("thing", [object(), {"kind": "tool.call"}, None, ToolCallFinished])
def test_publishing_something_that_is_not_an_event_is_a_type_error(thing: object) -> None:
    with pytest.raises(TypeError, match=r"expects an event from agentguard\.events"):
        Bus().publish(thing)  # type: ignore[arg-type]  # the point of the test


def test_subscribing_a_non_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="handler must be callable, got int"):
        Bus().subscribe(42)  # type: ignore[arg-type]  # the point of the test


@pytest.mark.parametrize("to", [int, object, "tool.call", ToolCallFinished(tool="t", duration_s=1)])
def test_subscribing_to_something_that_is_not_an_event_class_is_a_type_error(to: object) -> None:
    with pytest.raises(TypeError, match=r"must be an event class from agentguard\.events"):
        Bus().subscribe(print, to=to)  # type: ignore[arg-type]  # the point of the test


def test_a_raising_handler_never_reaches_the_publisher_nor_stops_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Bus()
    counts = [0, 0, 0, 0]

    def counter(i: int) -> Callable[[Event], None]:
        def handle(_: Event) -> None:
            counts[i] += 1

        return handle

    def explode(_: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(counter(0))
    bus.subscribe(counter(1))
    bus.subscribe(explode, name="exploder")
    bus.subscribe(counter(2))
    bus.subscribe(counter(3), to=ToolCallFinished)
    event = _tool()
    with caplog.at_level(logging.WARNING, logger="agentguard.bus"):
        for _ in range(100_000):
            bus.publish(event)
    assert counts == [100_000] * 4
    assert bus.subscriber_errors() == {"exploder": 100_000}
    logged = [r for r in caplog.records if r.name == "agentguard.bus"]
    assert len(logged) == 1, "one log line per episode, not one per event"
    assert "exploder" in logged[0].getMessage()
    assert logged[0].exc_info is not None


def test_a_long_failure_episode_logs_again_only_after_the_quiet_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    bus = Bus(log_quiet_s=60, clock=clock.monotonic)
    bus.subscribe(lambda e: 1 / 0, name="divider")
    with caplog.at_level(logging.WARNING, logger="agentguard.bus"):
        for _ in range(10):
            bus.publish(_tool())
        clock.advance(61)
        bus.publish(_tool())
    messages = [r.getMessage() for r in caplog.records if r.name == "agentguard.bus"]
    assert len(messages) == 2
    assert "10 more failure(s)" in messages[1]
    assert bus.subscriber_errors() == {"divider": 11}


def test_default_subscriber_names_are_qualified_names() -> None:
    bus = Bus()

    def my_handler(_: Event) -> None:
        raise ValueError

    subscription = bus.subscribe(my_handler)
    bus.publish(_tool())
    assert subscription.name.endswith("my_handler")
    assert bus.subscriber_errors() == {subscription.name: 1}


def test_base_exceptions_are_not_swallowed() -> None:
    bus = Bus()

    def interrupt(_: Event) -> None:
        raise KeyboardInterrupt

    bus.subscribe(interrupt)
    with pytest.raises(KeyboardInterrupt):
        bus.publish(_tool())


class _Collector:
    def __init__(self, into: list[Event]) -> None:
        self.into = into

    def handle(self, event: Event) -> None:
        self.into.append(event)


def test_lambdas_closures_and_bound_methods_of_temporaries_survive_gc() -> None:
    bus = Bus()
    by_lambda: list[Event] = []
    by_closure: list[Event] = []
    by_method: list[Event] = []

    def make_closure() -> Callable[[Event], None]:
        local = by_closure

        def handle(event: Event) -> None:
            local.append(event)

        return handle

    bus.subscribe(lambda e: by_lambda.append(e))  # noqa: PLW0108 (a lambda is the point)
    bus.subscribe(make_closure())
    bus.subscribe(_Collector(by_method).handle)
    gc.collect()
    bus.publish(_tool())
    assert len(by_lambda) == len(by_closure) == len(by_method) == 1


def test_concurrent_publish_subscribe_and_close() -> None:
    bus = Bus()
    publishers, per_publisher, churns = 16, 2_000, 10_000
    steady: list[list[Event]] = [[] for _ in range(3)]
    for seen in steady:
        bus.subscribe(seen.append)
    errors: list[BaseException] = []
    start = threading.Barrier(publishers + 2)

    def publish() -> None:
        try:
            start.wait()
            event = _tool()
            for _ in range(per_publisher):
                bus.publish(event)
        except BaseException as exc:
            errors.append(exc)

    def churn(n: int) -> None:
        try:
            start.wait()
            for i in range(n):
                to = ToolCallFinished if i % 2 else None
                subscription = bus.subscribe(lambda e: None, to=to)
                subscription.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(publishers)]
    threads += [threading.Thread(target=churn, args=(churns // 2,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [len(seen) for seen in steady] == [publishers * per_publisher] * 3
    assert bus.subscriber_errors() == {}


def test_an_async_handler_needs_a_running_loop() -> None:
    async def handler(_: Event) -> None:
        return None

    with pytest.raises(NoRunningLoopError, match="needs a running asyncio event loop"):
        Bus().subscribe(handler)


def test_async_handlers_run_on_their_loop_for_sync_and_threaded_publishers() -> None:
    bus = Bus()
    seen: list[tuple[str, int | None]] = []

    async def handler(event: Event) -> None:
        await asyncio.sleep(0)
        assert isinstance(event, ToolCallFinished)
        seen.append((event.tool, threading.get_ident()))

    async def main() -> int:
        bus.subscribe(handler, to=ToolCallFinished)
        bus.publish(_tool(1))  # from the loop's own thread, without awaiting
        thread = threading.Thread(target=bus.publish, args=(_tool(2),))
        thread.start()
        await asyncio.to_thread(thread.join)
        await bus.drain()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert sorted(seen) == [("t1", loop_thread), ("t2", loop_thread)]


def test_async_callable_objects_are_async_handlers() -> None:
    bus = Bus()
    seen: list[Event] = []

    class Handler:
        async def __call__(self, event: Event) -> None:
            seen.append(event)

    async def main() -> None:
        bus.subscribe(Handler())
        bus.publish(_tool())
        await bus.drain()

    asyncio.run(main())
    assert len(seen) == 1


def test_async_handler_errors_are_counted_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    seen: list[Event] = []

    async def explode(_: Event) -> None:
        raise RuntimeError("async boom")

    async def main() -> None:
        bus.subscribe(explode, name="async-exploder")
        bus.subscribe(seen.append)
        for _ in range(5):
            bus.publish(_tool())
        await bus.drain()

    with caplog.at_level(logging.ERROR, logger="agentguard.bus"):
        asyncio.run(main())
    assert len(seen) == 5
    assert bus.subscriber_errors() == {"async-exploder": 5}
    assert len([r for r in caplog.records if r.name == "agentguard.bus"]) == 1


def test_events_for_a_closed_loop_are_counted_as_dropped() -> None:
    bus = Bus()

    async def handler(_: Event) -> None:
        return None

    async def main() -> None:
        bus.subscribe(handler)

    asyncio.run(main())  # the loop closes when run() returns
    bus.publish(_tool())
    assert bus.events_dropped() == {"loop_closed": 1}


def test_an_async_subscriber_behind_its_publisher_holds_a_bounded_backlog(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Bus(max_pending=3)
    seen: list[Event] = []
    fast: list[Event] = []

    async def slow(event: Event) -> None:
        seen.append(event)

    async def main() -> None:
        bus.subscribe(slow, name="slow")
        bus.subscribe(fast.append)
        for _ in range(10):  # from the loop's thread: nothing runs until it awaits
            bus.publish(_tool())
        await bus.drain()
        bus.publish(_tool())  # the backlog ran: room again
        await bus.drain()

    with caplog.at_level(logging.ERROR, logger="agentguard.bus"):
        asyncio.run(main())
    assert len(seen) == 4
    assert len(fast) == 11  # the others miss nothing
    assert bus.events_dropped() == {"async_backlog": 7}
    assert len([r for r in caplog.records if "async_backlog" in r.getMessage()]) == 1
    assert bus.subscriber_errors() == {}


def test_a_subscription_sets_its_own_backlog_bound() -> None:
    bus = Bus()
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    async def main() -> None:
        bus.subscribe(handler, max_pending=1)
        bus.publish(_tool())
        bus.publish(_tool())
        await bus.drain()

    asyncio.run(main())
    assert (len(seen), bus.events_dropped()) == (1, {"async_backlog": 1})
    with pytest.raises(ValueError, match="max_pending must be an int >= 1"):
        Bus(max_pending=0)
    with pytest.raises(ValueError, match="max_pending must be an int >= 1"):
        bus.subscribe(seen.append, max_pending=-1)
