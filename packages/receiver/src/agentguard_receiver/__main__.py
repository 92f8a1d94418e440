"""``python -m agentguard_receiver``: see :mod:`agentguard_receiver.cli`."""

from __future__ import annotations

from agentguard_receiver.cli import main

raise SystemExit(main())
