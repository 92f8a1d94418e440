"""Files a test run keeps for people to look at (screenshots), and where they are.

They go to ``$AGENTGUARD_ARTIFACTS``, or ``artifacts/`` at the repository root (ignored by
git); the session's summary lists every file kept, so a CI log points at them.
"""

from __future__ import annotations

import os
from pathlib import Path

from support.workspace import ROOT

KEPT: list[Path] = []
"""Every file kept in this run, in order."""


def artifact_dir() -> Path:
    """The folder artifacts go to (made if missing)."""
    folder = Path(os.environ.get("AGENTGUARD_ARTIFACTS") or ROOT / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keep(name: str) -> Path:
    """The path to write artifact ``name`` to; listed in the run's summary."""
    path = artifact_dir() / name
    KEPT.append(path)
    return path
