from __future__ import annotations

import importlib

import pytest

import agentguard
from agentguard.testing import capture_events
from support.api import assert_all_is_public_api

MODULES = [
    "agentguard",
    "agentguard.bus",
    "agentguard.codec",
    "agentguard.compiler",
    "agentguard.context",
    "agentguard.errorkinds",
    "agentguard.errors",
    "agentguard.events",
    "agentguard.metricmap",
    "agentguard.ratelimit",
    "agentguard.scope",
    "agentguard.serving",
    "agentguard.subscriber",
    "agentguard.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    assert_all_is_public_api(importlib.import_module(name))


def test_fixed_entry_points_exist() -> None:
    assert isinstance(agentguard.default_bus, agentguard.Bus)
    assert agentguard.events.LLMCallFinished.kind == "llm.call"
    assert callable(capture_events)
