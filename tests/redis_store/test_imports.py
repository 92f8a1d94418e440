"""A worker pays for no web stack: the Redis subscriber and the model load without it."""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHECK = """
import sys
import {module}
web = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("starlette", "uvicorn", "orjson")
)
assert not web, web
"""


@pytest.mark.parametrize("module", ["agentguard_redis", "agentguard_metrics"])
def test_a_worker_imports_no_web_stack(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHECK.format(module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
