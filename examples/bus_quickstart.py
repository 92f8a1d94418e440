"""The core in ten lines: subscribe to the bus, publish inside a run, read the events."""

from __future__ import annotations

from agentguard import default_bus, run_context, to_json
from agentguard.events import Event, ToolCallFinished


def show(event: Event) -> None:
    print(f"{event.kind} from agent={event.agent}: {to_json(event)[:60]}...")


with default_bus.subscribe(show), run_context("support"):
    default_bus.publish(ToolCallFinished(tool="search_orders", duration_s=0.12))
    default_bus.publish(ToolCallFinished(tool="refund", duration_s=0.40, ok=False))
