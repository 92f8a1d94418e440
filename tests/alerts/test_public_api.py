from __future__ import annotations

import importlib

import pytest

import agentguard_alerts
from support.api import assert_all_is_public_api

MODULES = [
    "builtin",
    "config",
    "errors",
    "evaluator",
    "expressions",
    "notification",
    "reader",
    "rules",
    "targets",
    "webhook",
]


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(agentguard_alerts)


@pytest.mark.parametrize("name", MODULES)
def test_each_module_lists_exactly_its_public_names(name: str) -> None:
    assert_all_is_public_api(importlib.import_module(f"agentguard_alerts.{name}"))
