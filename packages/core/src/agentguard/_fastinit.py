"""A faster ``__init__`` for the frozen, slotted event dataclasses.

The ``__init__`` made here takes the same keyword-only arguments and defaults as the dataclass
one, writes each slot through its own descriptor instead of ``object.__setattr__``, and reads
the run context once for the common fields (docs/architecture.md, "Generated code", has the
figures). With ``AGENTGUARD_NO_CODEGEN=1`` the dataclass ``__init__`` is kept.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from agentguard import _codegen
from agentguard.context import _CURRENT

_CONTEXT_FIELDS = ("run_id", "agent", "session_id")


def install_fast_init(cls: type[Any]) -> None:
    """Replace the dataclass ``__init__`` of ``cls`` with an equivalent, faster one.

    Does nothing when generated code is switched off (:data:`agentguard._codegen.ENABLED`).
    """
    if not _codegen.ENABLED:
        return
    namespace: dict[str, Any] = {
        "_MISSING": dataclasses.MISSING,
        "_CURRENT": _CURRENT,
        "_time": time.time,
    }
    params: list[str] = []
    body: list[str] = []
    for f in dataclasses.fields(cls):
        name = f.name
        namespace[f"_set_{name}"] = _slot(cls, name).__set__
        if name == "at_unix_s":
            params.append("at_unix_s=_MISSING")
            body.append("_set_at_unix_s(self, _time() if at_unix_s is _MISSING else at_unix_s)")
        elif name in _CONTEXT_FIELDS:
            params.append(f"{name}=_MISSING")
        elif f.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = f.default
            params.append(f"{name}=_default_{name}")
            body.append(f"_set_{name}(self, {name})")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = f.default_factory
            params.append(f"{name}=_MISSING")
            body.append(f"_set_{name}(self, _factory_{name}() if {name} is _MISSING else {name})")
        else:
            params.append(name)
            body.append(f"_set_{name}(self, {name})")
    body.append("run = _CURRENT.get()")
    body.extend(
        f"_set_{name}(self, {name} if {name} is not _MISSING "
        f"else None if run is None else run.{name})"
        for name in _CONTEXT_FIELDS
    )
    text = f"def __init__(self, *, {', '.join(params)}):\n    " + "\n    ".join(body) + "\n"
    init = _codegen.define(text, f"<agentguard __init__ of {cls.__name__}>", "__init__", namespace)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init


def _slot(cls: type[Any], name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise AssertionError(f"{cls.__name__}.{name} has no slot")
