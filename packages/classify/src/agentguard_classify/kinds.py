"""The closed set of error kinds every classification lands in (:mod:`agentguard.errorkinds`)."""

from __future__ import annotations

from agentguard.errorkinds import ErrorKind

__all__ = ["ErrorKind"]
