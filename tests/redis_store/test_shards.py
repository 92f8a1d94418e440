"""Shards on one redis-server: writers spread, readers merge, Redis says how many, the old layout.

A deployment's writers hash to S shards (hash tags); readers learn S from Redis
(``{prefix}:layout``), not from their own options, and a writer told another S is refused in
one line. Data of the single-slot layout (every key in ``{prefix}``, no layout key: what the
store wrote before shards) is shard 0, so it is read as it is, with no migration.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, cast

import pytest

from agentguard.events import LLMCallFinished, RunStarted, ToolCallFinished
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator
from agentguard_redis import RedisSetupError, RedisStore, RedisSubscriber
from agentguard_redis._keys import shard_of, shard_tags
from support.redis_server import RedisServer

if TYPE_CHECKING:
    import redis

CALLS = "agentguard_llm_calls_total"
DURATION = "agentguard_llm_call_duration_seconds"


def pid_in(shard: int, shards: int) -> str:
    """A process id that writes to ``shard`` of ``shards``."""
    return next(f"p{i}" for i in itertools.count() if shard_of(f"p{i}", shards) == shard)


def write(store: RedisStore, process_id: str, clock: FakeClock, calls: int) -> None:
    """``calls`` LLM calls (and a run started, a tool call) from ``process_id``."""
    aggregator = Aggregator(store, process_id=process_id, clock=clock.time, interval_s=None)
    for i in range(calls):
        aggregator.record(
            LLMCallFinished(
                model=("claude-opus-4-8", "claude-sonnet-4-6")[i % 2],
                duration_s=0.1 * (i + 1),
                at_unix_s=clock.time(),
            )
        )
    aggregator.record(ToolCallFinished(tool="search", duration_s=0.01, at_unix_s=clock.time()))
    aggregator.record(RunStarted(agent=process_id, at_unix_s=clock.time()))
    assert aggregator.flush(2.0)


def write_single_slot_layout(client: redis.Redis, prefix: str, clock: FakeClock) -> None:
    """What the store wrote before shards: every key in ``{prefix}``, no layout key.

    That layout is today's shard 0 of one shard; the layout key is what it lacked.
    """
    old = RedisStore(client, prefix=prefix, clock=clock.time, shards=1)
    for worker in ("old-a", "old-b"):
        write(old, worker, clock, 10)
    client.delete("{" + prefix + "}:layout")
    keys = cast("list[bytes]", client.keys("*"))
    assert all(key.startswith(b"{" + prefix.encode() + b"}:") for key in keys)


def test_writers_spread_over_the_shards_and_a_reader_merges_them(
    client: redis.Redis, clock: FakeClock
) -> None:
    writer = RedisStore(client, prefix="spread", clock=clock.time, shards=4)
    for shard in range(4):
        write(writer, pid_in(shard, 4), clock, 10 + shard)
    tags = {key.split(b"}")[0] + b"}" for key in cast("list[bytes]", client.keys("*"))}
    assert tags == {tag.encode() for tag in shard_tags("spread", 4)}  # every shard written
    reader = RedisStore(client, prefix="spread", clock=clock.time)  # told nothing
    assert reader.shards == 4  # from Redis
    assert reader.counter(CALLS) == 10 + 11 + 12 + 13
    assert reader.counter(CALLS, {"model": "claude-opus-4-8"}) == 5 + 6 + 6 + 7
    assert reader.counters(CALLS)[("claude-sonnet-4-6", "ok", "")] == 5 + 5 + 6 + 6
    assert reader.histogram(DURATION).count == 46
    assert len(reader.histograms(DURATION)) == 2
    assert reader.gauge("agentguard_runs_in_progress") == 4.0
    assert reader.series(CALLS) == [("claude-opus-4-8", "ok", ""), ("claude-sonnet-4-6", "ok", "")]
    start, end = clock.time() - 120, clock.time() + 60
    assert sum(b.value for b in reader.buckets(CALLS, None, start, end, 60)) == 46
    by_model = reader.buckets_by(CALLS, "model", start=start, end=end, step_s=60)
    assert sum(b.value for b in by_model["claude-opus-4-8"]) == 24


def test_a_writer_told_other_shards_is_refused_in_one_line(
    client: redis.Redis, clock: FakeClock
) -> None:
    write(RedisStore(client, prefix="fixed", clock=clock.time, shards=4), "a", clock, 3)
    other = RedisStore(client, prefix="fixed", clock=clock.time, shards=8)
    with pytest.raises(RedisSetupError, match="has 4 shards and this writer was told 8") as info:
        other.check()
    assert (info.value.reason, "\n" in str(info.value)) == ("shards", False)  # one line
    subscriber = RedisSubscriber(other, interval_s=None)
    subscriber.record(LLMCallFinished(model="claude-opus-4-8", duration_s=0.1))
    assert not subscriber.flush(1.0)  # kept, not written under another layout
    assert subscriber.held_series > 0
    assert RedisStore(client, prefix="fixed").counter(CALLS) == 3
    # leaving shards out takes Redis's
    follower = RedisStore(client, prefix="fixed", clock=clock.time)
    write(follower, "b", clock, 2)
    assert follower.shards == 4
    assert follower.counter(CALLS) == 5


@pytest.mark.parametrize("bad", ["0", "257", "x"])
def test_a_bad_number_of_shards_fails_at_once(redis_server: RedisServer, bad: str) -> None:
    with pytest.raises(ValueError, match="shards"):
        RedisStore(f"{redis_server.url}?shards={bad}")


def test_the_url_carries_the_store_options(redis_server: RedisServer, clock: FakeClock) -> None:
    store = RedisStore.from_url(
        f"{redis_server.url}?shards=3&wait_replicas=0&wait_ms=100", prefix="url", clock=clock.time
    )
    write(store, "a", clock, 2)
    assert store.shards == 3
    assert RedisStore(f"{redis_server.url}?shards=3", prefix="url").counter(CALLS) == 2
    store.client.close()


def test_the_single_slot_layout_is_read_and_sharded_writers_add_to_it(
    client: redis.Redis, clock: FakeClock
) -> None:
    write_single_slot_layout(client, "legacy", clock)
    before = RedisStore(client, prefix="legacy", clock=clock.time)
    assert before.shards == 1
    assert before.counter(CALLS) == 20
    sharded = RedisStore(client, prefix="legacy", clock=clock.time, shards=4)
    for shard in range(4):
        write(sharded, pid_in(shard, 4), clock, 1)
    after = RedisStore(client, prefix="legacy", clock=clock.time)
    assert after.shards == 4
    assert after.counter(CALLS) == 24  # the old data is shard 0: read, not migrated
    assert after.histogram(DURATION).count == 24
    assert after.gauge("agentguard_runs_in_progress") == 6.0
    # a reader that read before the layout existed learns it (it asks while there is none)
    assert before.counter(CALLS) == 24


def test_a_writer_registers_its_shards_again_after_redis_lost_them(
    client: redis.Redis, clock: FakeClock
) -> None:
    writer = RedisStore(client, prefix="lost", clock=clock.time, shards=4)
    write(writer, pid_in(2, 4), clock, 3)
    client.flushall()  # as a restart without persistence
    write(writer, pid_in(2, 4), clock, 2)  # its mark went with the data: applied
    clock.advance(61)
    writer.heartbeat(pid_in(2, 4), clock.time())  # with its once-a-minute pruning
    assert RedisStore(client, prefix="lost", clock=clock.time).counter(CALLS) == 2
