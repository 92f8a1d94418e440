"""A model's exact rates, asked of genai-prices' own calculation, and how long they hold.

genai-prices prices a call in about 90 us; a call must be priced in a few. Its price of a
call is linear in the call's counts within one long-context tier (``ModelPrice.calc_price``
sums ``price * count / per`` over the priced units, the tier chosen by the total input), so
``ModelInfo.calc_price`` on a handful of one-unit usages per tier gives every per-unit rate
exactly, as differences of its own Decimal results. Those rates, applied with integers, give
exactly its price for any usage: resolution of the dated prices and price variants
(``processing=batch``, ``speed=fast``), the leaf decomposition of cache tokens, the tiers and
the unit sizes all stay genai-prices' own. ``tests/trace/test_pricing.py`` proves it against
``genai_prices.calc_price`` on every Claude model of its data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from datetime import time as dtime
from decimal import localcontext
from functools import cache
from typing import TYPE_CHECKING, Final

from genai_prices import Usage
from genai_prices.types import StartDateConstraint, TieredPrices

from agentguard_trace._rates import DIMENSIONS, EXACT, Levels, Rates, rates

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice, PriceCalculation, Provider

_OWN_PRICE_KEYS: Final = {
    "cache_read_tokens": ("cache_read_mtok",),
    "cache_write_5m_tokens": ("cache_write_5m_mtok", "cache_write_mtok"),
    "cache_write_1h_tokens": ("cache_write_1h_mtok",),
    "web_search_requests": ("web_searches_kcount",),
}
"""The genai-prices price keys that price a dimension itself; without one, genai-prices
prices the dimension by a broader key (cache reads as input, 1-hour writes as 5-minute ones)
or not at all (web searches)."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """What genai-prices says about a model on one platform, in one price context."""

    levels: Levels
    valid_from_s: float
    valid_until_s: float
    """The window of request times the levels hold for: between two dated prices."""
    unapplied: tuple[tuple[str, str], ...]
    """The price-context pairs no active price variant of the model prices."""


_Calc = Callable[..., "PriceCalculation"]


@cache
def bundled_snapshot() -> DataSnapshot:
    """genai-prices' bundled data, never the process-wide snapshot an updater may replace."""
    from genai_prices.data import providers
    from genai_prices.data_snapshot import DataSnapshot

    return DataSnapshot(providers=providers, from_auto_update=False)


def find(provider_id: str, model: str) -> tuple[Provider, ModelInfo] | None:
    """genai-prices' provider and model for ``model``, with its own matching and fallbacks."""
    try:
        return bundled_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None


def resolve(
    provider: Provider, info: ModelInfo, context: Mapping[str, str], at_unix_s: float
) -> Resolved:
    """Rates for calls at ``at_unix_s`` with ``context``, from ``ModelInfo.calc_price``."""
    at = datetime.fromtimestamp(at_unix_s, tz=timezone.utc)
    price_context = dict(context) or None

    def calc(
        uncached: int,
        *,
        output: int = 0,
        read: int = 0,
        write_5m: int = 0,
        write_1h: int = 0,
        searches: int = 0,
    ) -> PriceCalculation:
        usage = Usage(
            input_tokens=uncached + read + write_5m + write_1h,
            output_tokens=output,
            cache_read_tokens=read,
            cache_write_tokens=write_5m + write_1h,
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
            web_searches=searches,
        )
        return info.calc_price(
            usage, provider, genai_request_timestamp=at, price_context=price_context
        )

    with localcontext(EXACT):
        model_price = calc(1).model_price
        starts = sorted(_tier_starts(model_price))
        anchors = [0, *starts]
        levels = []
        for index, start in enumerate(anchors):
            # Input tokens at the bottom of the tier; one more must stay in it.
            anchor = start + 1
            if index + 1 < len(anchors) and anchor + 1 > anchors[index + 1]:
                raise ValueError(f"tiers of {info.id!r} too close to price one token")
            levels.append((start, _rates_at(calc, anchor)))
    missing = tuple(
        (DIMENSIONS.index(dimension), dimension)
        for dimension, keys in _OWN_PRICE_KEYS.items()
        if all(getattr(model_price, key, None) is None for key in keys)
    )
    valid_from, valid_until = _window(info, at_unix_s)
    return Resolved(
        Levels(levels[0][1], tuple(levels[1:]), missing),
        valid_from,
        valid_until,
        tuple(
            pair
            for pair in context.items()
            if not _variant_applies(provider, info, context, pair, at)
        ),
    )


def _rates_at(calc: _Calc, anchor: int) -> Rates:
    """Per-unit rates in the tier of ``anchor`` input tokens, as differences of totals.

    Moving one of ``anchor`` uncached tokens to a cache read (or write) keeps the tier and
    changes the total by ``read - input``; the other dimensions add to the total alone.
    """
    total = calc(anchor).total_price
    input_rate = calc(anchor + 1).total_price - total
    return rates(
        {
            "input_tokens": input_rate,
            "output_tokens": calc(anchor, output=1).total_price - total,
            "cache_read_tokens": calc(anchor - 1, read=1).total_price - total + input_rate,
            "cache_write_5m_tokens": calc(anchor - 1, write_5m=1).total_price - total + input_rate,
            "cache_write_1h_tokens": calc(anchor - 1, write_1h=1).total_price - total + input_rate,
            "web_search_requests": calc(anchor, searches=1).total_price - total,
            "request": total - anchor * input_rate,
        }
    )


def _tier_starts(price: ModelPrice) -> Iterator[int]:
    """The thresholds of every tiered price of ``price``, each once."""
    seen: set[int] = set()
    for value in vars(price).values():
        if isinstance(value, TieredPrices):
            for tier in value.tiers:
                if tier.start not in seen:
                    seen.add(tier.start)
                    yield tier.start


def _variant_applies(
    provider: Provider,
    info: ModelInfo,
    context: Mapping[str, str],
    pair: tuple[str, str],
    at: datetime,
) -> bool:
    """Whether an active price variant prices ``pair`` of the context.

    As ``ModelInfo.calc_price`` does, variants count only for a model of the provider's own
    data: a model found through a fallback provider (Vertex to Anthropic) is priced without.
    """
    if not any(info is model for model in provider.models):
        return False
    return any(
        pair in variant.when.items()
        and all(context.get(key) == value for key, value in variant.when.items())
        and (variant.constraint is None or variant.constraint.active(at))
        for variant in info.price_variants or ()
    )


def _window(info: ModelInfo, at_unix_s: float) -> tuple[float, float]:
    """The dated prices around ``at_unix_s``: the last start at or before it, the next after.

    A time-of-day price (none for Claude) changes within a day: the window is then empty, so
    the model is resolved again on every call.
    """
    constraints = [
        *(c.constraint for c in (info.prices if isinstance(info.prices, list) else ())),
        *(variant.constraint for variant in info.price_variants or ()),
    ]
    valid_from, valid_until = -math.inf, math.inf
    for constraint in constraints:
        if constraint is None:
            continue
        if not isinstance(constraint, StartDateConstraint):
            return at_unix_s, at_unix_s
        start = datetime.combine(constraint.start_date, dtime(), tzinfo=timezone.utc).timestamp()
        if start <= at_unix_s:
            valid_from = max(valid_from, start)
        else:
            valid_until = min(valid_until, start)
    return valid_from, valid_until
