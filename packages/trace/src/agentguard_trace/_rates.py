"""Exact per-unit rates, as integers over one power of ten, and the tiers that select them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, Overflow
from typing import Final

# Every price is exact at 60 digits (counts < 10**15 times prices of a few digits); the private
# context keeps a caller's ``decimal.getcontext()`` from rounding our money, and genai-prices'
# too while we ask it for rates.
EXACT: Final = Context(prec=60, traps=[InvalidOperation, Overflow])

DIMENSIONS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "web_search_requests",
)
"""The priced dimensions of a call, in the order of :class:`Rates` and of the counts tuple."""


@dataclass(frozen=True, slots=True)
class Rates:
    """US dollars per unit (token or search) as exact integers over one power of ten, ``scale``.

    A cost is ``rate * count / scale`` in Python ints: exact, and ``int / int`` is correctly
    rounded to the nearest float, so nothing is rounded before the result is a float.
    """

    scale: int
    input: int
    output: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    web_search: int
    request: int
    """A price per call whatever its usage (genai-prices' ``requests_kcount``; 0 for Claude)."""


@dataclass(frozen=True, slots=True)
class Levels:
    """A model's rates at every long-context tier, and the dimensions it has no price for."""

    base: Rates
    tiers: tuple[tuple[int, Rates], ...]
    """``(threshold_tokens, rates)`` ascending; a tier applies when total input > threshold."""
    missing: tuple[tuple[int, str], ...] = ()
    """``(index into the counts, dimension name)`` of each dimension priced by another
    dimension's price (e.g. 1-hour cache writes at the 5-minute write price): a call with such
    a count > 0 is priced as genai-prices prices it, and marked incomplete."""

    def rates_for(self, total_input_tokens: int) -> Rates:
        """The rates of the tier a call with this many input tokens (all kinds) falls in."""
        for threshold, rates in reversed(self.tiers):
            if total_input_tokens > threshold:
                return rates
        return self.base


def rates(per_unit: Mapping[str, Decimal]) -> Rates:
    """Integer rates over one scale from exact per-unit prices keyed by :data:`DIMENSIONS`.

    A missing key is priced at 0; ``"request"`` is the per-call price.
    """
    keys = (*DIMENSIONS, "request")
    exact = [per_unit.get(key, Decimal(0)) for key in keys]
    digits = max(0, *(-int(rate.as_tuple().exponent) for rate in exact))
    scaled = [int(EXACT.scaleb(rate, digits)) for rate in exact]
    return Rates(10**digits, *scaled)
