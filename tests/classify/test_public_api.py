from __future__ import annotations

import agentguard_classify
from support.api import assert_all_is_public_api


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(agentguard_classify)


def test_error_kind_is_the_cores_one_table() -> None:
    from agentguard import errorkinds
    from agentguard_classify import kinds

    assert agentguard_classify.ErrorKind is errorkinds.ErrorKind is kinds.ErrorKind
