"""System binaries the tests need: skipped when missing, a failure in CI (imports pytest)."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
"""Whether we run in CI, where a missing binary is a failure instead of a skip."""


def require_binary(name: str, debian_package: str) -> str:
    """Return the path of ``name``; skip the test when it is missing (fail in CI).

    Args:
        name: The executable, looked up on PATH.
        debian_package: The Debian package that provides it, named in the skip reason.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"needs {name} (Debian package {debian_package}: apt-get install {debian_package})"
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so a missing binary is a failure", pytrace=False)
    pytest.skip(reason)
