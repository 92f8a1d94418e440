"""The totals a :class:`~agentguard_cache.PromptCacheTracker` keeps, as an immutable snapshot."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CacheStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """Prompt-cache totals over the LLM calls that had any input, at the time of the snapshot."""

    calls: int = 0
    """LLM calls counted (calls without input tokens are not)."""
    read_tokens: int = 0
    """Input tokens read from the cache."""
    write_tokens: int = 0
    """Input tokens written to the cache (5-minute and 1-hour together)."""
    uncached_tokens: int = 0
    """Input tokens neither read from nor written to the cache."""
    saved_usd: float = 0.0
    """Dollars caching saved, summed over the priced calls (negative when writes cost more
    than reads saved)."""
    unpriced_calls: int = 0
    """Calls whose savings were unknown (unpriced model); they are not in :attr:`saved_usd`."""

    @property
    def input_tokens(self) -> int:
        """All input tokens: read, written and uncached."""
        return self.read_tokens + self.write_tokens + self.uncached_tokens

    @property
    def hit_ratio(self) -> float | None:
        """Read tokens over all input tokens, between 0 and 1; ``None`` with no input yet."""
        total = self.input_tokens
        return self.read_tokens / total if total else None


class _Totals:
    """A mutable accumulator behind :class:`CacheStats`. The tracker's lock guards it."""

    __slots__ = (
        "calls",
        "read_tokens",
        "saved_usd",
        "uncached_tokens",
        "unpriced_calls",
        "write_tokens",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.read_tokens = 0
        self.write_tokens = 0
        self.uncached_tokens = 0
        self.saved_usd = 0.0
        self.unpriced_calls = 0

    def add(self, *, read: int, write: int, uncached: int, saved_usd: float | None) -> None:
        self.calls += 1
        self.read_tokens += read
        self.write_tokens += write
        self.uncached_tokens += uncached
        if saved_usd is None:
            self.unpriced_calls += 1
        else:
            self.saved_usd += saved_usd


def _snapshot(parts: Iterable[_Totals]) -> CacheStats:
    """Sum ``parts`` into one :class:`CacheStats`."""
    parts = list(parts)
    return CacheStats(
        calls=sum(p.calls for p in parts),
        read_tokens=sum(p.read_tokens for p in parts),
        write_tokens=sum(p.write_tokens for p in parts),
        uncached_tokens=sum(p.uncached_tokens for p in parts),
        saved_usd=math.fsum(p.saved_usd for p in parts),
        unpriced_calls=sum(p.unpriced_calls for p in parts),
    )
