"""The workspace's packages, read from the one list: the root pyproject's uv workspace."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (Python 3.10)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]

TESTS_DIRS: Final = {"redis": "redis_store"}
"""Packages whose tests directory is named otherwise: ``tests/redis`` would shadow redis-py."""


@dataclass(frozen=True)
class Package:
    """One package of the workspace."""

    dir_name: str
    """Its directory under packages/ (``core`` for the core); also the nox session's id."""

    @property
    def dist_name(self) -> str:
        """The distribution name: ``agentguard`` or ``agentguard-<x>``."""
        return (
            "agentguard"
            if self.dir_name == "core"
            else f"agentguard-{self.dir_name.replace('_', '-')}"
        )

    @property
    def import_name(self) -> str:
        """The import name: ``agentguard`` or ``agentguard_<x>``."""
        return "agentguard" if self.dir_name == "core" else f"agentguard_{self.dir_name}"

    @property
    def path(self) -> Path:
        """The package's directory."""
        return ROOT / "packages" / self.dir_name

    @property
    def tests_path(self) -> Path:
        """Its tests' directory: ``tests/<dir_name>`` unless :data:`TESTS_DIRS` names another."""
        return ROOT / "tests" / TESTS_DIRS.get(self.dir_name, self.dir_name)


def _read() -> tuple[Package, ...]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = pyproject["tool"]["uv"]["workspace"]["members"]
    return tuple(Package(Path(member).name) for member in members)


PACKAGES: tuple[Package, ...] = _read()
"""Every package of the workspace, in the order the root pyproject lists them."""
