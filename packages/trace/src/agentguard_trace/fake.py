"""Deprecated: the fake Messages API is the package agentguard-fake (``import agentguard_fake``).

Every name of ``agentguard_fake`` is importable from here for one more release, with a
``DeprecationWarning``; the extra ``agentguard-trace[fake]`` installs agentguard-fake.
"""

from __future__ import annotations

import warnings
from typing import Any, Final

_MOVED: Final = frozenset(
    {
        "DATED_MODELS",
        "Answer",
        "Batch",
        "BatchOutcome",
        "Delay",
        "Fail",
        "FailMidStream",
        "FakeAnthropicServer",
        "ManagedSession",
        "ModelRequest",
        "Provider",
        "RawEvent",
        "RecordedRequest",
        "Reply",
        "ServiceTier",
        "SessionError",
        "SessionStep",
        "Speed",
        "Step",
        "StopReason",
        "ToolRun",
        "ToolUse",
        "UsageSnapshot",
    }
)
"""The names this module had; each now comes from agentguard_fake."""


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"agentguard_trace.fake is deprecated: import {name} from agentguard_fake "
        "(the package agentguard-fake)",
        DeprecationWarning,
        stacklevel=2,
    )
    try:
        import agentguard_fake
    except ImportError as exc:
        raise ImportError(
            f"agentguard_trace.fake.{name} moved to the package agentguard-fake, which is not "
            "installed: pip install agentguard-fake (or 'agentguard-trace[fake]'), then "
            "import it from agentguard_fake"
        ) from exc
    return getattr(agentguard_fake, name)
