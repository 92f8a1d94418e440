"""The cost of one Anthropic call, in US dollars, by genai-prices' own calculation.

:class:`PriceTable` prices a :class:`CallUsage` as genai-prices' ``calc_price`` would (dated
prices, ``batch`` and ``fast`` variants, long-context tiers, web searches), from exact
per-unit rates derived once per platform, model and price context (see ``_genai``), with
overrides that win. What the API reports and genai-prices cannot price is named in
:attr:`CallCost.unpriced` (``complete=False``), never priced in silence. Platforms
(``provider``) and how each is priced: the package README's "Pricing" section; why the rates
are derived: docs/architecture.md ("The tracer"). Exceptions: :mod:`agentguard_trace.errors`.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, TypeAlias

from agentguard_trace import _genai
from agentguard_trace._overrides import load_overrides
from agentguard_trace._rates import DIMENSIONS, Levels
from agentguard_trace.errors import PriceTableError as PriceTableError  # noqa: PLC0414 (their old home: `as` re-exports for mypy)
from agentguard_trace.errors import TokenCountError as TokenCountError  # noqa: PLC0414 (their old home: `as` re-exports for mypy)

__all__ = [
    "CallCost",
    "CallUsage",
    "PriceOverrides",
    "PriceParts",
    "PriceTable",
    "cost_fields",
    "normalize_model",
]

PriceOverrides: TypeAlias = Mapping[str, Mapping[str, object]] | str | Path
"""Price overrides: ``{model: {key: value}}``, or the path of a TOML or JSON file holding it."""

_PLATFORMS: Final = {
    "anthropic": "anthropic",
    "bedrock": "aws",
    "vertex": "google",
    "foundry": "anthropic",
    "aws": "anthropic",
    "google_cloud": "anthropic",
}
"""Each platform and the genai-prices provider whose data prices it."""
_COUNT_NAMES: Final = (*DIMENSIONS, "web_fetch_requests")
_DATE_SUFFIX: Final = re.compile(r"[-@]\d{8}$")
_BEDROCK_PREFIX: Final = re.compile(r"^(?:[a-z]{2,6}(?:-[a-z]{2,4})?\.)?anthropic\.")
_BEDROCK_VERSION: Final = re.compile(r"(?<!^claude)-v\d+(?::\d+)?$")
"""Bedrock's model version (``-v1:0``), not the name of Claude 2 (``claude-v2:1``)."""
_VERTEX_DATE: Final = re.compile(r"(?:-v\d+)?@(\d{8})$")
"""Vertex's date (``@20250929``) and its version (``claude-3-5-sonnet-v2@20241022``)."""
_MAX_CACHED: Final = 4096
_Key: TypeAlias = tuple[str, str, str | None, str | None]
"""Model, platform, speed and service tier: what selects a model's rates besides the time."""
_logger = logging.getLogger("agentguard.trace")

PriceParts: TypeAlias = tuple[
    float, float, float, float, float, float, float, float, bool, tuple[str, ...]
]
""":meth:`PriceTable.price_parts`' answer, in :class:`CallCost`'s field order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallUsage:
    """What the API reported one call used, in the Anthropic API's terms.

    Raises:
        TokenCountError: A count is not an ``int`` >= 0.
        TypeError: ``speed`` or ``service_tier`` is not a string or ``None``.
    """

    input_tokens: int = 0
    """Uncached input tokens (``usage.input_tokens``, which excludes cache reads and writes)."""
    output_tokens: int = 0
    """Output tokens, thinking included."""
    cache_read_tokens: int = 0
    """``usage.cache_read_input_tokens``."""
    cache_write_5m_tokens: int = 0
    """Tokens written to the cache with the 5-minute lifetime."""
    cache_write_1h_tokens: int = 0
    """Tokens written to the cache with the 1-hour lifetime."""
    web_search_requests: int = 0
    """``usage.server_tool_use.web_search_requests``: billed per search."""
    web_fetch_requests: int = 0
    """``usage.server_tool_use.web_fetch_requests``: Anthropic bills web fetches as the tokens
    they add only, so they cost nothing by themselves."""
    speed: str | None = None
    """``usage.speed``: ``"fast"`` selects genai-prices' ``speed=fast`` variant."""
    service_tier: str | None = None
    """``usage.service_tier``: ``"batch"`` selects genai-prices' ``processing=batch`` variant;
    ``"priority"`` has no price in genai-prices (the call is then marked incomplete)."""

    def __post_init__(self) -> None:
        _check_counts(self.counts())
        for name in ("speed", "service_tier"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string or None, got {value!r}")

    def counts(self) -> tuple[int, int, int, int, int, int, int]:
        """The seven counts in field order, as :meth:`PriceTable.price_parts` takes them."""
        return (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.web_search_requests,
            self.web_fetch_requests,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCost:
    """What one call cost, split by component, in US dollars."""

    input_usd: float
    """Uncached input tokens."""
    output_usd: float
    """Output tokens."""
    cache_read_usd: float
    """Input tokens read from the prompt cache."""
    cache_write_5m_usd: float
    """Input tokens written to the cache with the 5-minute lifetime."""
    cache_write_1h_usd: float
    """Input tokens written to the cache with the 1-hour lifetime."""
    web_search_usd: float = 0.0
    """Server-side web searches (0 when unpriced: see :attr:`unpriced`)."""
    total_usd: float
    """The whole call: the exact sum of the parts, rounded once."""
    without_cache_usd: float
    """The same call with every input token priced as uncached input (at the tier the call
    falls in), plus the same output and web searches: what it would cost without caching."""
    complete: bool = True
    """Whether every dimension the API reported has a price of its own."""
    unpriced: tuple[str, ...] = ()
    """The reported dimensions left unpriced or priced by another dimension's price:
    ``"service_tier=priority"``, ``"speed=fast"`` (a model without a fast variant),
    ``"web_search_requests"`` (no search price), ``"cache_write_1h_tokens"`` (priced at the
    5-minute write price), ``"provider=bedrock"`` (Anthropic's prices stood in)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    levels: Levels | None
    unpriced: tuple[str, ...]
    dated: bool
    """Whether the entry holds only between ``valid_from_s`` and ``valid_until_s``."""
    valid_from_s: float = -math.inf
    valid_until_s: float = math.inf


class PriceTable:
    """Prices Anthropic calls by genai-prices' own calculation, with overrides that win.

    Model names are matched by genai-prices as the API returns them: aliases
    (``claude-sonnet-4-5``), dated names (``claude-sonnet-4-5-20250929``), Bedrock ids
    (``global.anthropic.claude-sonnet-4-5-20250929-v1:0``) and Vertex names
    (``claude-sonnet-4-5@20250929``). An override for ``claude-x`` also prices
    ``claude-x-20250101`` and the Bedrock and Vertex names of it. Rates resolved for a model are
    cached; genai-prices prices that change on a known date are resolved again for calls on the
    other side of that date.

    genai-prices is never asked to update itself: this table reads the data bundled in the
    installed package and ignores any snapshot a ``genai_prices.UpdatePrices`` task fetched.

    The traps: genai-prices' data decides. Where a model has no 1-hour cache write price
    (several Bedrock and Vertex entries), genai-prices prices 1-hour writes at its cache write
    price, and the cost says so in ``unpriced``. Some models Anthropic prices with a
    long-context tier (Claude Sonnet 4, ``claude-sonnet-4-20250514``, with the 1M-context beta)
    have none in genai-prices: give such a model an override with ``long_context_*`` keys.

    Hot paths: :meth:`price_parts` answers a plain tuple (no objects built); :meth:`parts` is
    the older five-count form, kept for callers of it.

    Args:
        overrides: ``{model: {key: USD per million tokens}}`` or the path (``str`` or
            ``Path``) of a ``.toml`` or ``.json`` file holding the same. Keys: ``input_mtok``
            and ``output_mtok`` (required), ``cache_read_mtok``, ``cache_write_5m_mtok``,
            ``cache_write_1h_mtok`` (by Anthropic's rules 0.1 x, 1.25 x and 2 x the input
            price when omitted), ``web_search_per_k`` (USD per 1,000 searches, Anthropic's $10
            when omitted), and for a long-context tier ``long_context_threshold_tokens`` (an
            int: the tier applies when the call's total input is above it) with
            ``long_context_input_mtok`` and ``long_context_output_mtok`` (required with a
            threshold) and the optional ``long_context_cache_*`` prices. An override replaces
            genai-prices' prices for that model entirely, on every platform; it has no batch
            or fast prices, so such calls to it are marked incomplete.
        provider: The platform :meth:`cost`, :meth:`parts` and :meth:`is_priced` price for
            (see the module docstring).
        clock: Seconds since the epoch; the request time when a call gives none.

    Raises:
        PriceTableError: An override is negative, NaN, infinite, not a number, has an unknown
            or missing key, or the file cannot be read or parsed; or ``provider`` is unknown.
    """

    def __init__(
        self,
        overrides: PriceOverrides | None = None,
        *,
        provider: str = "anthropic",
        clock: Callable[[], float] | None = None,
    ) -> None:
        _genai_provider(provider)
        self._provider = provider
        self._clock = time.time if clock is None else clock
        self._overrides = load_overrides(overrides)
        self._cache: dict[_Key, _Entry] = {}
        self._windows: dict[_Key, tuple[_Entry, ...]] = {}

    def is_priced(self, model: str, *, provider: str | None = None) -> bool:
        """Whether calls to ``model`` can be priced.

        Args:
            model: The model name as the API returns it.
            provider: The platform; the table's own when ``None``.

        Returns:
            ``True`` when an override or genai-prices has prices for it.
        """
        platform = self._provider if provider is None else provider
        key = (model, platform, None, None)
        return self._entry(key, None).levels is not None

    def price(
        self,
        model: str,
        usage: CallUsage,
        *,
        provider: str = "anthropic",
        at_unix_s: float | None = None,
    ) -> CallCost | None:
        """Price one call.

        Args:
            model: The model name as the API returns it (or the platform names it).
            usage: What the API reported the call used.
            provider: The platform that served it: ``anthropic``, ``bedrock``, ``vertex``,
                ``foundry``, ``aws`` or ``google_cloud``.
            at_unix_s: When the request was made (dated prices); now when ``None``.

        Returns:
            The cost, or ``None`` when the model is not priced (never a cost of $0 for it).

        Raises:
            PriceTableError: ``provider`` is unknown.
        """
        parts = self.price_parts(
            model,
            usage.counts(),
            speed=usage.speed,
            service_tier=usage.service_tier,
            provider=provider,
            at_unix_s=at_unix_s,
        )
        return None if parts is None else _call_cost(parts)

    def price_parts(
        self,
        model: str,
        counts: tuple[int, int, int, int, int, int, int],
        *,
        speed: str | None = None,
        service_tier: str | None = None,
        provider: str = "anthropic",
        at_unix_s: float | None = None,
    ) -> PriceParts | None:
        """:meth:`price` as a plain tuple in :class:`CallCost`'s field order, for hot paths.

        ``counts`` are :meth:`CallUsage.counts`: input, output, cache read, 5-minute write,
        1-hour write, web searches, web fetches. They are not checked: pass ints >= 0.
        """
        key = (model, provider, speed, service_tier)
        entry = self._cache.get(key)
        if entry is None or (
            entry.dated
            and not (
                entry.valid_from_s
                <= (self._clock() if at_unix_s is None else at_unix_s)
                < entry.valid_until_s
            )
        ):
            entry = self._entry(key, at_unix_s)
        levels = entry.levels
        if levels is None:
            return None
        tokens, output, read, write_5m, write_1h, searches, _fetches = counts
        all_input = tokens + read + write_5m + write_1h
        rates = levels.rates_for(all_input)
        input_usd = rates.input * tokens
        output_usd = rates.output * output
        read_usd = rates.cache_read * read
        write_5m_usd = rates.cache_write_5m * write_5m
        write_1h_usd = rates.cache_write_1h * write_1h
        search_usd = rates.web_search * searches
        rest = output_usd + search_usd + rates.request
        scale = rates.scale
        unpriced = entry.unpriced
        if levels.missing:
            unpriced += tuple(name for index, name in levels.missing if counts[index])
        return (
            input_usd / scale,
            output_usd / scale,
            read_usd / scale,
            write_5m_usd / scale,
            write_1h_usd / scale,
            search_usd / scale,
            (input_usd + read_usd + write_5m_usd + write_1h_usd + rest) / scale,
            (rates.input * all_input + rest) / scale,
            not unpriced,
            unpriced,
        )

    def cost(
        self,
        model: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_5m_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
    ) -> CallCost | None:
        """Price one call of the table's platform, now, from its token counts.

        Args:
            model: The model name as the API returns it.
            input_tokens: Uncached input tokens (``usage.input_tokens`` of the Anthropic API,
                which excludes cache reads and writes).
            output_tokens: Output tokens.
            cache_read_tokens: ``usage.cache_read_input_tokens``.
            cache_write_5m_tokens: Tokens written to the cache with the 5-minute lifetime.
            cache_write_1h_tokens: Tokens written to the cache with the 1-hour lifetime.

        Returns:
            The cost, or ``None`` when the model is not priced (never a cost of $0 for it).

        Raises:
            TokenCountError: A token count is not an ``int`` >= 0.
        """
        counts = (
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_5m_tokens,
            cache_write_1h_tokens,
            0,
            0,
        )
        _check_counts(counts)
        parts = self.price_parts(model, counts, provider=self._provider)
        return None if parts is None else _call_cost(parts)

    def parts(
        self, model: str, counts: tuple[int, int, int, int, int]
    ) -> tuple[float, float, float, float, float, float, float] | None:
        """:meth:`cost` as a plain tuple: the five token parts, the total, the cost without cache.

        ``counts`` are the five token counts in :meth:`cost`'s order, not checked: pass
        ints >= 0. :meth:`price_parts` is the form with every dimension.
        """
        parts = self.price_parts(model, (*counts, 0, 0), provider=self._provider)
        if parts is None:
            return None
        return parts[0], parts[1], parts[2], parts[3], parts[4], parts[6], parts[7]

    def _entry(self, key: _Key, at_unix_s: float | None) -> _Entry:
        """The cached entry for ``key`` valid at the request time, resolved when there is none."""
        at = self._clock() if at_unix_s is None else at_unix_s
        entry = self._cache.get(key)
        if entry is not None and entry.valid_from_s <= at < entry.valid_until_s:
            return entry
        # Calls on both sides of a dated price (Message Batches results priced at their
        # request time beside live calls) keep each window's rates instead of resolving anew.
        for other in self._windows.get(key, ()):
            if other.valid_from_s <= at < other.valid_until_s:
                self._cache[key] = other
                return other
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
            self._windows.clear()
        entry = self._resolve(*key, at)
        self._cache[key] = entry
        if entry.dated and entry.valid_from_s < entry.valid_until_s:
            self._windows[key] = (*self._windows.get(key, ()), entry)
        return entry

    def _resolve(
        self, model: str, provider: str, speed: str | None, service_tier: str | None, at: float
    ) -> _Entry:
        genai_provider = _genai_provider(provider)
        context: dict[str, str] = {}
        labels: dict[tuple[str, str], str] = {}
        if service_tier is not None and service_tier != "standard":
            pair = (
                ("processing", "batch")
                if service_tier == "batch"
                else ("service_tier", service_tier)
            )
            context[pair[0]] = pair[1]
            labels[pair] = f"service_tier={service_tier}"
        if speed is not None and speed != "standard":
            context["speed"] = speed
            labels[("speed", speed)] = f"speed={speed}"
        name = normalize_model(model, provider)
        for candidate in (model.lower(), name.lower(), _DATE_SUFFIX.sub("", name.lower())):
            override = self._overrides.get(candidate)
            if override is not None:
                return _Entry(override, tuple(labels.values()), dated=False)
        fallback: tuple[str, ...] = ()
        found = _genai.find(genai_provider, model)
        if found is None and name != model:
            found = _genai.find(genai_provider, name)
        if found is None and genai_provider != "anthropic":
            found = _genai.find("anthropic", name)
            fallback = (f"provider={provider}",)
        if found is None:
            return _Entry(None, (), dated=False)
        try:
            resolved = _genai.resolve(*found, context, at)
        except (ValueError, ArithmeticError) as exc:
            # Prices genai-prices itself cannot apply (none for Claude): unpriced, never raised
            # into the agent's call. Logged once: the answer is cached.
            _logger.warning("cannot price %r on %s: %s", model, provider, exc)
            return _Entry(None, (), dated=False)
        unpriced = fallback + tuple(labels[pair] for pair in resolved.unapplied)
        dated = resolved.valid_from_s != -math.inf or resolved.valid_until_s != math.inf
        return _Entry(
            resolved.levels, unpriced, dated, resolved.valid_from_s, resolved.valid_until_s
        )


_COST_FIELDS: Final = (
    "input_cost_usd",
    "output_cost_usd",
    "cache_read_cost_usd",
    "cache_write_5m_cost_usd",
    "cache_write_1h_cost_usd",
    "web_search_cost_usd",
    "cost_usd",
    "cost_without_cache_usd",
)


def cost_fields(parts: PriceParts | None, *, free: bool = False) -> dict[str, Any]:
    """The cost fields of an ``LLMCallFinished`` from :meth:`PriceTable.price_parts`' answer.

    Every producer of LLM calls (the tracer, the Claude Agent SDK hooks, session watchers)
    fills them the same way: each component and the totals, ``cost_complete`` and
    ``unpriced`` naming what the cost leaves out. ``None`` (no price for the model) is an
    unpriced call (costs ``None``, ``unpriced="model"``), never $0, unless ``free``: a call
    that reported no usage at all and names no model (a failed batch result) cost nothing.
    """
    fields: dict[str, Any]
    if parts is not None:
        fields = dict(zip(_COST_FIELDS, parts[:8], strict=True))
        fields["cost_complete"], fields["unpriced"] = parts[8], ",".join(parts[9]) or None
        return fields
    fields = dict.fromkeys(_COST_FIELDS, 0.0 if free else None)
    fields["cost_complete"], fields["unpriced"] = free, None if free else "model"
    return fields


@lru_cache(maxsize=4096)
def normalize_model(model: str, provider: str = "anthropic") -> str:
    """The Anthropic name of a model as a platform names it, for labels and prices.

    ``global.anthropic.claude-sonnet-4-5-20250929-v1:0`` (Bedrock, any region prefix, or an
    inference-profile ARN ending in it) and ``claude-sonnet-4-5@20250929`` (Vertex) both give
    ``claude-sonnet-4-5-20250929``; a first-party name comes back as it is. Every platform's
    forms are recognized whatever ``provider`` says: they cannot be mistaken for each other.

    Raises:
        PriceTableError: ``provider`` is not a known platform.
    """
    _genai_provider(provider)
    name = model.rsplit("/", 1)[-1]
    if _BEDROCK_PREFIX.match(name):
        name = _BEDROCK_VERSION.sub("", _BEDROCK_PREFIX.sub("", name))
    return _VERTEX_DATE.sub(r"-\1", name)


def _genai_provider(provider: str) -> str:
    genai_provider = _PLATFORMS.get(provider)
    if genai_provider is None:
        raise PriceTableError(
            f"agentguard prices no provider {provider!r}; pass one of: {', '.join(_PLATFORMS)}",
            key="provider",
        )
    return genai_provider


def _call_cost(parts: PriceParts) -> CallCost:
    return CallCost(
        input_usd=parts[0],
        output_usd=parts[1],
        cache_read_usd=parts[2],
        cache_write_5m_usd=parts[3],
        cache_write_1h_usd=parts[4],
        web_search_usd=parts[5],
        total_usd=parts[6],
        without_cache_usd=parts[7],
        complete=parts[8],
        unpriced=parts[9],
    )


def _check_counts(counts: tuple[object, ...]) -> None:
    for name, count in zip(_COUNT_NAMES, counts, strict=False):
        if type(count) is not int or count < 0:
            raise TokenCountError(
                f"{name} must be an int >= 0, got {count!r}; pass 0 for a count the API left out",
                field=name,
            )
