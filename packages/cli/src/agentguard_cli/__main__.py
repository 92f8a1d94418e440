"""``python -m agentguard_cli``: the ``agentguard`` command."""

from __future__ import annotations

import sys

from agentguard_cli.main import main

if __name__ == "__main__":
    sys.exit(main())
