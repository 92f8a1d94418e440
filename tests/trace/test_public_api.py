from __future__ import annotations

import agentguard_trace
from agentguard import AgentGuardError
from agentguard_trace import errors
from support.api import assert_all_is_public_api


def test_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(agentguard_trace)


def test_the_usage_module_lists_exactly_its_public_names() -> None:
    from agentguard_trace import usage

    assert_all_is_public_api(usage)


def test_importing_the_tracer_loads_no_classifier() -> None:
    """``agentguard-classify`` is an extra: imported at the first error, never at import."""
    import subprocess
    import sys

    script = "import sys, agentguard_trace; print('agentguard_classify' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


def test_the_errors_module_holds_the_packages_exceptions() -> None:
    assert_all_is_public_api(errors)
    assert all(issubclass(getattr(errors, name), AgentGuardError) for name in errors.__all__)
