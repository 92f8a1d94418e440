from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from agentguard import RunContext, bind_context, current_run, run_context
from agentguard.events import ToolCallFinished


def test_no_run_outside_a_run_context() -> None:
    assert current_run() is None


def test_nested_runs_keep_the_parent_session_and_record_the_parent() -> None:
    with run_context("planner", session_id="s-1") as outer:
        with run_context("executor") as inner:
            assert current_run() is inner
            assert inner.session_id == "s-1"
            assert inner.parent_run_id == outer.run_id
            assert inner.run_id != outer.run_id
        assert current_run() is outer
    assert current_run() is None


def test_a_nested_run_cannot_switch_session() -> None:
    with (
        run_context("a", session_id="s-1"),
        pytest.raises(ValueError, match="parent's session"),
        run_context("b", session_id="s-2"),
    ):
        pass


def test_top_level_runs_get_their_own_session() -> None:
    with run_context("a") as first:
        pass
    with run_context("a") as second:
        pass
    assert first.session_id != second.session_id
    assert len(first.run_id) == 32


@pytest.mark.parametrize("agent", ["", None, 3])
def test_agent_must_be_a_name(agent: object) -> None:
    with (
        pytest.raises(ValueError, match="agent must be a non-empty string"),
        run_context(agent),  # type: ignore[arg-type]  # the point of the test
    ):
        pass


def test_the_context_follows_asyncio_gather_and_tasks() -> None:
    async def step(name: str) -> tuple[str | None, str | None]:
        await asyncio.sleep(0)
        event = ToolCallFinished(tool=name, duration_s=0.0)
        return event.run_id, event.agent

    async def run(agent: str) -> tuple[RunContext, list[tuple[str | None, str | None]]]:
        with run_context(agent) as ctx:
            results = await asyncio.gather(step("a"), step("b"), asyncio.create_task(step("c")))
        return ctx, list(results)

    async def main() -> None:
        (ctx1, seen1), (ctx2, seen2) = await asyncio.gather(run("one"), run("two"))
        assert seen1 == [(ctx1.run_id, "one")] * 3
        assert seen2 == [(ctx2.run_id, "two")] * 3

    asyncio.run(main())


def test_the_context_follows_threads_started_with_a_copied_context() -> None:
    seen: dict[str, RunContext | None] = {}

    def record(key: str) -> None:
        seen[key] = current_run()

    with run_context("threaded") as run:
        context = contextvars.copy_context()
        plain = threading.Thread(target=record, args=("plain",))
        copied = threading.Thread(target=context.run, args=(record, "copied"))
        bound = threading.Thread(target=bind_context(record), args=("bound",))
        for thread in (plain, copied, bound):
            thread.start()
            thread.join()
        with ThreadPoolExecutor(2) as pool:
            pool.submit(bind_context(record), "pool").result()
    assert seen == {"plain": None, "copied": run, "bound": run, "pool": run}


def test_bound_functions_can_run_in_several_threads_at_once() -> None:
    with run_context("fan-out") as run:
        worker = bind_context(current_run)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: worker(), range(16)))
    assert results == [run] * 16
