"""Prompt caching that warms up: hit ratio and dollars saved per call, then the totals.

A long system prompt marked with ``cache_control`` is written to the cache on the first call
and read on the next ones (the fake Messages API emulates the cache; no API key needed).
"""

from __future__ import annotations

import anthropic

from agentguard import default_bus
from agentguard.events import PromptCacheUsage
from agentguard_cache import PromptCacheTracker
from agentguard_fake import FakeAnthropicServer
from agentguard_trace import instrument

POLICY = "You answer questions about orders. Refunds take 5 to 7 business days. " * 80
MODEL = "claude-sonnet-4-6"


def show(event: PromptCacheUsage) -> None:
    saved = "unpriced" if event.saved_usd is None else f"${event.saved_usd:+.5f}"
    print(
        f"call: hit ratio {event.hit_ratio:.2f}, read {event.read_tokens}, "
        f"written {event.write_tokens}, uncached {event.uncached_tokens}, saved {saved}"
    )


def main() -> None:
    tracker = PromptCacheTracker()
    tracker.attach()
    with (
        FakeAnthropicServer(seed=3) as server,
        default_bus.subscribe(show, to=PromptCacheUsage),
        instrument(anthropic.Anthropic(base_url=server.url, api_key="demo")) as client,
    ):
        for question in ("Where is order 1?", "And order 2?", "Refund for 3?", "Status of 4?"):
            client.messages.create(
                model=MODEL,
                max_tokens=256,
                system=[{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}],
                messages=[{"role": "user", "content": question}],
            )
    totals = tracker.stats(model=MODEL)
    print(
        f"{MODEL}: {totals.calls} calls, hit ratio {totals.hit_ratio:.2f}, "
        f"saved ${totals.saved_usd:.5f}"
    )
    tracker.close()


if __name__ == "__main__":
    main()
