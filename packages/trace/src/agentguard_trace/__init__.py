"""agentguard-trace: say here what the package does and show the smallest use."""

from __future__ import annotations

__all__: list[str] = []
