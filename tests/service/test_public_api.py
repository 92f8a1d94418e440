from __future__ import annotations

import agentguard_service
from support.api import assert_all_is_public_api


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(agentguard_service)
