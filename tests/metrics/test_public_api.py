from __future__ import annotations

import subprocess
import sys

import pytest

import agentguard_metrics
from agentguard import AgentGuardError
from agentguard_metrics import errors, storekit
from support.api import assert_all_is_public_api


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(agentguard_metrics)
    assert all(hasattr(storekit, name) for name in storekit.__all__)  # a module of re-exports


def test_the_errors_module_holds_the_packages_exceptions() -> None:
    assert_all_is_public_api(errors)
    assert all(issubclass(getattr(errors, name), AgentGuardError) for name in errors.__all__)


def test_the_store_helpers_still_import_from_the_package_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"agentguard_metrics\.storekit"):
        from agentguard_metrics import matcher
    assert matcher is storekit.matcher
    assert "matcher" not in agentguard_metrics.__all__
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        agentguard_metrics.nothing  # noqa: B018 (the attribute access is the test)


def test_the_service_names_say_what_to_install_when_the_service_is_absent() -> None:
    check = (
        "import sys\n"
        "sys.modules['agentguard_service'] = None  # as if not installed\n"
        "import agentguard_metrics\n"
        "try:\n"
        "    agentguard_metrics.MetricsService\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pip install agentguard-service" in done.stdout
