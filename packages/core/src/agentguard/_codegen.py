"""The one switch and the one way to define generated functions (the speed machinery).

:mod:`agentguard.compiler` and :mod:`agentguard._fastinit` write Python source and run it.
With ``AGENTGUARD_NO_CODEGEN=1`` in the environment (read once, at import) :data:`ENABLED` is
false and both run the plain interpreter instead: the rules through
:meth:`agentguard.metricmap.Rule.effect`, the events through the dataclass ``__init__``.
:func:`define` registers each generated source with :mod:`linecache` under a name that says
what it is (``<agentguard rules for LLMCallFinished>``), so a traceback shows the line.
"""

from __future__ import annotations

import linecache
import os
from typing import Any, Final

__all__ = ["ENABLED", "define"]

ENABLED: Final[bool] = os.environ.get("AGENTGUARD_NO_CODEGEN", "") not in ("1", "true", "yes")
"""Whether generated code runs; tests may patch it before a subscriber compiles its rules."""


def define(text: str, filename: str, name: str, namespace: dict[str, Any]) -> Any:
    """Run ``text`` (which defines function ``name``) in ``namespace``; return the function.

    ``filename`` is what a traceback names, and :mod:`linecache` holds ``text`` under it (an
    entry without a modification time, which ``linecache.checkcache`` keeps).
    """
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 (source built by agentguard from its own tables)
    return namespace[name]
