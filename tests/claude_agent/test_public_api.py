from __future__ import annotations

import agentguard_claude_agent
from agentguard import AgentGuardError
from agentguard_claude_agent import errors
from support.api import assert_all_is_public_api


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(agentguard_claude_agent)


def test_the_errors_module_holds_the_packages_exceptions() -> None:
    assert_all_is_public_api(errors)
    assert all(issubclass(getattr(errors, name), AgentGuardError) for name in errors.__all__)
