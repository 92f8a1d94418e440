"""The exceptions agentguard raises on purpose, all under :class:`AgentGuardError`.

Those about bad input also derive from the built-in a caller would expect, so
``except ValueError`` keeps working. Packages add their own (``ToolLoopDetected``, ...)::

    AgentGuardError
    ├── EventCodecError (ValueError)        an event could not be encoded or decoded
    │   ├── EventEncodeError                the event holds a value JSON cannot carry
    │   └── EventDecodeError                the JSON is not an event this version can build
    │       ├── UnknownEventKind            ``kind`` names no event of the catalog
    │       └── UnsupportedSchemaVersion    written by a newer agentguard
    └── NoRunningLoopError (RuntimeError)   an async handler was subscribed outside a loop
"""

from __future__ import annotations

__all__ = [
    "AgentGuardError",
    "EventCodecError",
    "EventDecodeError",
    "EventEncodeError",
    "NoRunningLoopError",
    "UnknownEventKind",
    "UnsupportedSchemaVersion",
]


class AgentGuardError(Exception):
    """The root of every exception agentguard raises on purpose."""


class EventCodecError(AgentGuardError, ValueError):
    """An event could not be turned into JSON or back."""


class EventEncodeError(EventCodecError):
    """The event holds a value that JSON cannot carry (NaN, an infinity, a foreign object).

    Attributes:
        field: The name of the offending field.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class EventDecodeError(EventCodecError):
    """The JSON is not an event that this version of agentguard can build.

    Attributes:
        field: The offending field, or ``None`` when the document as a whole is wrong.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownEventKind(EventDecodeError):  # noqa: N818 (reads as a fact, like KeyError)
    """The ``kind`` of the document names no event of the catalog.

    Attributes:
        kind: The kind that was found.
    """

    def __init__(self, kind: object) -> None:
        super().__init__(f"unknown event kind {kind!r}", field="kind")
        self.kind = kind


class UnsupportedSchemaVersion(EventDecodeError):  # noqa: N818 (reads as a fact, like KeyError)
    """The document was written with a schema version this agentguard does not know.

    Attributes:
        version: The version found in the document.
        supported: The newest version this agentguard reads.
    """

    def __init__(self, version: object, supported: int) -> None:
        super().__init__(
            f"event schema version {version!r} is not supported (this agentguard reads "
            f"versions 1 to {supported}); upgrade agentguard to read it",
            field="schema",
        )
        self.version = version
        self.supported = supported


class NoRunningLoopError(AgentGuardError, RuntimeError):
    """An async handler was subscribed where no asyncio event loop is running."""
