"""The quickstart: decorate an agent, attach a subscriber, read its metrics at ``/metrics``.

Run it from the repository root: ``.venv/bin/python examples/quickstart.py`` (elsewhere:
``pip install agentguard-trace agentguard-fake agentguard-prometheus``, then
``python quickstart.py``).

It shows what a few lines give an agent: every Messages call, tool call and run
becomes an event on the agentguard bus, and the Prometheus subscriber turns them into the
metrics of docs/metrics.md, served from the agent's own process (no Redis, no other server).
It prints the agent's answer, then the lines of ``/metrics`` a user would look at first:
calls, tokens, cost, tool calls and runs.

The project's fake Messages API stands in for the real one (no API key, no network); with the
real API, drop the setup and write ``anthropic.Anthropic()``.
"""

from __future__ import annotations

import anthropic
import httpx2

from agentguard_fake import FakeAnthropicServer, Reply
from agentguard_prometheus import PrometheusSubscriber, start_http_server
from agentguard_trace import instrument, tool, traced

# Setup, not part of the quickstart: the fake API, with the answer it will give.
fake = FakeAnthropicServer(seed=1).start()
fake.enqueue(Reply(text="Your order 1234 shipped yesterday.", input_tokens=1200, output_tokens=80))

# The quickstart: what a user writes.
PrometheusSubscriber().attach()  # every agentguard event -> Prometheus metrics
metrics = start_http_server(0)  # /metrics from this process (0: a free port; 9464 is usual)
client = instrument(anthropic.Anthropic(base_url=fake.url, api_key="demo"))


@tool
def lookup_order(order_id: int) -> str:
    return f"order {order_id}: shipped yesterday"


@traced(agent="support")
def answer(order_id: int) -> str:
    status = lookup_order(order_id)
    reply = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=256,
        messages=[{"role": "user", "content": f"Tell the customer: {status}"}],
    )
    return "".join(block.text for block in reply.content if block.type == "text")


print(answer(1234))

# What Prometheus would scrape (curl http://127.0.0.1:9464/metrics), the first lines to read.
FIRST = (
    "agentguard_llm_calls_total",
    "agentguard_llm_tokens_total",
    "agentguard_llm_cost_usd_total",
    "agentguard_tool_calls_total",
    "agentguard_runs_total",
)
for line in httpx2.get(metrics.url).text.splitlines():
    if line.startswith(FIRST) and not line.endswith(" 0.0"):
        print(line)

metrics.close()
client.close()
fake.stop()
