"""Many worker processes, one Redis, one ``agentguard serve``: totals that add up exactly.

Run it from the repository root: ``.venv/bin/python examples/redis_workers.py [WORKERS]``
(three workers by default).

Redis: the one at ``AGENTGUARD_REDIS_URL`` when that is set (the example writes under a fresh
key prefix, so its totals are its own); otherwise it starts the ``redis-server`` on PATH on a
free loopback port (``apt-get install redis-server``) and stops it at the end.

What it shows, as a deployment would run it:

1. ``agentguard serve --redis URL --prefix P --port 0``: the shared metrics service, started
   as the real command (``python -m agentguard_cli`` is the same command); it says its URL on
   standard error.
2. WORKERS processes, each with ``RedisSubscriber.from_url(url).attach()`` and an agent on the
   real anthropic SDK (``instrument``, ``@traced``, ``@tool``) against a fake Messages API of
   its own. Worker k makes k + 1 runs; its last model call is refused with a 529, so that run
   fails. Each worker counts the events it published and closes its subscriber (the last
   flush), as a worker does when it exits.
3. The totals of the service's ``/api/v1/snapshot`` and ``/metrics``, beside the sum of what
   the workers published: equal, because each worker's batches are applied exactly once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anthropic
import httpx2

from agentguard import default_bus
from agentguard.events import Event, LLMCallFinished, ToolCallFinished
from agentguard_fake import Fail, FakeAnthropicServer, Reply
from agentguard_redis import RedisSubscriber
from agentguard_trace import instrument, tool, traced

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

MODEL = "claude-sonnet-4-6"


@dataclass(frozen=True)
class Tally:
    """What one worker published."""

    worker: int
    pid: int
    runs: int
    llm_calls: int
    failed_calls: int
    tool_calls: int
    cost_usd: float
    flushed: bool


# --- a worker process ------------------------------------------------------------------------


def worker(number: int, redis_url: str, prefix: str, results: Queue[Tally]) -> None:
    """One worker: attach the Redis subscriber, run the agent, close (flush), report."""
    subscriber = RedisSubscriber.from_url(redis_url, prefix=prefix)
    subscriber.attach()  # the default bus, where instrument/traced/tool publish

    published: list[Event] = []
    counting = default_bus.subscribe(published.append)  # only to print what was published

    runs = number + 1
    with FakeAnthropicServer(seed=number) as fake:
        answers = [Reply(text="Shipped.", input_tokens=1500, output_tokens=100)] * (runs - 1)
        fake.enqueue(*answers, Fail(status=529))  # overloaded: the last run fails
        client = instrument(anthropic.Anthropic(base_url=fake.url, api_key="demo", max_retries=0))

        @tool
        def lookup_order(order_id: int) -> str:
            return f"order {order_id}: shipped"

        @traced(agent="support")
        def answer(order_id: int) -> str:
            status = lookup_order(order_id)
            reply = client.messages.create(
                model=MODEL, max_tokens=128, messages=[{"role": "user", "content": status}]
            )
            return "".join(block.text for block in reply.content if block.type == "text")

        for order_id in range(runs):
            with contextlib.suppress(anthropic.APIStatusError):  # the 529: a failed call and run
                answer(order_id)
        client.close()

    counting.close()
    flushed = subscriber.close(timeout_s=5.0)  # everything held, applied once
    calls = [e for e in published if isinstance(e, LLMCallFinished)]
    results.put(
        Tally(
            worker=number,
            pid=os.getpid(),
            runs=runs,
            llm_calls=len(calls),
            failed_calls=sum(not c.ok for c in calls),
            tool_calls=sum(isinstance(e, ToolCallFinished) for e in published),
            cost_usd=sum(c.cost_usd or 0.0 for c in calls),
            flushed=flushed,
        )
    )


# --- the parent: Redis, agentguard serve, the workers ---------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_url() -> Iterator[str]:
    """AGENTGUARD_REDIS_URL, or a redis-server of our own on a free port for the duration."""
    given = os.environ.get("AGENTGUARD_REDIS_URL")
    if given:
        print("redis: AGENTGUARD_REDIS_URL")
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit(
            "no redis-server on PATH: apt-get install redis-server, or set AGENTGUARD_REDIS_URL"
        )
    port = free_port()
    command = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 (redis-server from PATH)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("redis-server did not start")
                time.sleep(0.05)
        print(f"redis: a redis-server started for this example at {url}")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def agentguard_serve(url: str, prefix: str) -> Iterator[str]:
    """``agentguard serve --redis URL --prefix P --port 0``; yields the service's base URL."""
    command = [sys.executable, "-m", "agentguard_cli", "serve", "--redis", url]
    command += ["--prefix", prefix, "--port", "0"]
    serve = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)  # noqa: S603 (our command)
    try:
        assert serve.stderr is not None
        for line in serve.stderr:  # "agentguard serve: http://127.0.0.1:PORT over Redis ..."
            found = re.match(r"agentguard serve: (http://\S+)", line)
            if found:
                break
        else:
            sys.exit(f"agentguard serve exited with status {serve.wait()}")
        print(f"agentguard serve: {found[1]} (prefix {prefix!r})")
        yield found[1]
    finally:
        serve.terminate()  # SIGTERM: it stops cleanly, exit status 0
        serve.communicate(timeout=10)
    print(f"agentguard serve stopped (exit status {serve.returncode})")


def main(workers: int) -> None:
    prefix = f"example-{secrets.token_hex(4)}"  # the keys of this run alone
    with redis_url() as url, agentguard_serve(url, prefix) as service:
        spawn = multiprocessing.get_context("spawn")  # fresh processes, as separate workers are
        results: Queue[Tally] = spawn.Queue()
        processes = [
            spawn.Process(target=worker, args=(k, url, prefix, results))
            for k in range(1, workers + 1)
        ]
        for process in processes:
            process.start()
        tallies = sorted((results.get(timeout=60) for _ in processes), key=lambda t: t.worker)
        for process in processes:
            process.join(10)

        for t in tallies:
            print(
                f"worker {t.worker} (pid {t.pid}): {t.runs} runs, {t.llm_calls} LLM calls "
                f"({t.failed_calls} failed), {t.tool_calls} tool calls, ${t.cost_usd:.6f}, "
                f"flushed: {'yes' if t.flushed else 'no'}"
            )
        llm = sum(t.llm_calls for t in tallies)
        tools = sum(t.tool_calls for t in tallies)
        failed = sum(t.failed_calls for t in tallies)
        cost = sum(t.cost_usd for t in tallies)
        print(
            f"{workers} workers published: {llm} LLM calls ({failed} failed), "
            f"{tools} tool calls, ${cost:.6f}"
        )

        # The service reads Redis afresh at most every 0.25 s; ask until the last flush shows.
        deadline = time.monotonic() + 10
        while True:
            snapshot = httpx2.get(f"{service}/api/v1/snapshot").json()
            if snapshot["total_executions"] == llm + tools or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        print(
            f"/api/v1/snapshot: total_executions {snapshot['total_executions']}, "
            f"error_count {snapshot['error_count']}, "
            f"cost_usd_total ${snapshot['cost_usd_total']:.6f}, "
            f"active_executions {snapshot['active_executions']}"
        )
        for endpoint, figures in snapshot["endpoints"].items():
            print(f"  {endpoint}: {figures['requests_total']} requests")
        for line in httpx2.get(f"{service}/metrics").text.splitlines():
            if line.startswith(("agentguard_llm_calls_total{", "agentguard_runs_total{")):
                print(f"/metrics: {line}")

        same = (
            snapshot["total_executions"] == llm + tools
            and snapshot["error_count"] == failed
            and abs(snapshot["cost_usd_total"] - cost) < 1e-9
            and all(t.flushed for t in tallies)
        )
        print(f"the service's totals equal what the workers published: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
