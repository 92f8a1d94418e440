"""agentguard: observability and safety for LLM agents. The core: events, bus, run context.

``agentguard.events`` holds the event catalog, :class:`Bus` delivers events to subscribers,
:mod:`agentguard.context` tells which run the code belongs to, :mod:`agentguard.codec` turns
events into JSON and back, and :mod:`agentguard.testing` helps test code that uses them.
"""

from __future__ import annotations

from agentguard import events
from agentguard.bus import Bus, Handler, Subscription, default_bus
from agentguard.codec import SCHEMA_VERSION, from_dict, from_json, to_dict, to_json
from agentguard.context import RunContext, bind_context, current_run, new_id, run_context
from agentguard.episodes import FailureEpisodes
from agentguard.errors import (
    AgentGuardError,
    EventCodecError,
    EventDecodeError,
    EventEncodeError,
    NoRunningLoopError,
    UnknownEventKind,
    UnsupportedSchemaVersion,
)
from agentguard.events import Event
from agentguard.subscriber import BufferedSubscriber, Subscriber

__all__ = [
    "SCHEMA_VERSION",
    "AgentGuardError",
    "BufferedSubscriber",
    "Bus",
    "Event",
    "EventCodecError",
    "EventDecodeError",
    "EventEncodeError",
    "FailureEpisodes",
    "Handler",
    "NoRunningLoopError",
    "RunContext",
    "Subscriber",
    "Subscription",
    "UnknownEventKind",
    "UnsupportedSchemaVersion",
    "bind_context",
    "current_run",
    "default_bus",
    "events",
    "from_dict",
    "from_json",
    "new_id",
    "run_context",
    "to_dict",
    "to_json",
]

__version__ = "0.1.0"
