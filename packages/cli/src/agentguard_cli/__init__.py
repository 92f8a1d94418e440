"""agentguard-cli: the ``agentguard`` command (``demo``, ``serve``, ``top``, ``receive``).

The command's entry point is :func:`agentguard_cli.main.main`; this package exports no API.
"""

from __future__ import annotations

__all__: list[str] = []
