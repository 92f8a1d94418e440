"""The package imports and works without anthropic, httpx2 and httpx, and imports none of them."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
{block}
import agentguard_classify as c
print(sorted(n for n in ("anthropic", "httpx2", "httpx") if sys.modules.get(n)))
print(c.classify(TimeoutError()).kind.value, c.classify(ValueError()).kind.value)
"""


def _run(block: str) -> list[str]:
    script = SCRIPT.format(block=block)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_importing_loads_none_of_the_optional_libraries() -> None:
    assert _run("") == ["[]", "timeout unknown"]


def test_it_works_with_none_of_them_installed() -> None:
    block = "for name in ('anthropic', 'httpx2', 'httpx'): sys.modules[name] = None"
    assert _run(block) == ["[]", "timeout unknown"]
