"""The cost of one Anthropic call, in US dollars, from its token counts.

Prices come from the data bundled with `genai-prices`_ (read from ``genai_prices.data``,
never from the network) and from overrides, which win. Arithmetic is exact (integer
per-token prices over a power of ten); the floats of :class:`CallCost` are each rounded once,
at the end, so ``total_usd`` is the correctly rounded sum of the exact parts.

Anthropic's rules, applied where a price is missing (overrides, or a model genai-prices knows
without cache prices): a 5-minute cache write costs 1.25 x the input price, a 1-hour cache
write 2 x, a cache read 0.1 x. Long-context tiers ("prompts above 200k input tokens") are
decided by the call's *total* input (uncached input + cache reads + cache writes); once a call
crosses a threshold, every token of it (output and cache tokens included) is priced at that
tier, as genai-prices does.

The exceptions::

    AgentGuardError
    ├── PriceTableError (ValueError)   a price override is wrong; names the model and key
    └── TokenCountError (ValueError)   a token count given to ``cost`` is not an int >= 0

.. _genai-prices: https://github.com/pydantic/genai-prices
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from datetime import time as dtime
from decimal import Context, Decimal, InvalidOperation, Overflow
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from genai_prices.types import StartDateConstraint, TieredPrices

from agentguard import AgentGuardError

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice

__all__ = [
    "CallCost",
    "PriceOverrides",
    "PriceTable",
    "PriceTableError",
    "TokenCountError",
]

PriceOverrides: TypeAlias = Mapping[str, Mapping[str, object]] | str | Path
"""Price overrides: ``{model: {key: value}}``, or the path of a TOML or JSON file holding it."""

_PRICE_KEYS: Final = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_5m_mtok",
    "cache_write_1h_mtok",
)
_LONG_PREFIX: Final = "long_context_"
_THRESHOLD_KEY: Final = "long_context_threshold_tokens"
_ALLOWED_KEYS: Final = frozenset(
    (*_PRICE_KEYS, *(_LONG_PREFIX + key for key in _PRICE_KEYS), _THRESHOLD_KEY)
)
_CACHE_MULTIPLIERS: Final = {
    "cache_read_mtok": Decimal("0.1"),
    "cache_write_5m_mtok": Decimal("1.25"),
    "cache_write_1h_mtok": Decimal("2"),
}
_DATE_SUFFIX: Final = re.compile(r"[-@]\d{8}$")
_COUNT_NAMES: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
)
_MAX_CACHED_MODELS: Final = 4096
# Every price is exact at 60 digits (tokens < 10**15 times prices of a few digits); the private
# context keeps a caller's ``decimal.getcontext()`` from rounding our money.
_CTX: Final = Context(prec=60, traps=[InvalidOperation, Overflow])


class PriceTableError(AgentGuardError, ValueError):
    """A price override is wrong: a bad value, an unknown key, or an unreadable file.

    Attributes:
        model: The model whose override is wrong, or ``None`` when the whole source is.
        key: The offending key, or ``None`` when the whole entry or file is wrong.
    """

    def __init__(self, message: str, *, model: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.key = key


class TokenCountError(AgentGuardError, ValueError):
    """A token count passed to :meth:`PriceTable.cost` is not an ``int`` >= 0.

    Attributes:
        field: The name of the offending argument.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCost:
    """What one call cost, split by kind of token, in US dollars."""

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
    total_usd: float
    """The whole call: the exact sum of the five parts, rounded once."""
    without_cache_usd: float
    """The same call with every input token priced as uncached input (at the tier the call
    falls in), plus the same output: what the call would have cost without prompt caching."""


@dataclass(frozen=True, slots=True)
class _Rates:
    """US dollars per token as exact integers over one power of ten, ``scale``.

    A cost is ``rate * tokens / scale`` in Python ints: exact, and ``int / int`` is correctly
    rounded to the nearest float, so nothing is rounded before the result is a float.
    """

    scale: int
    input: int
    output: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int


@dataclass(frozen=True, slots=True)
class _ModelPrices:
    base: _Rates
    tiers: tuple[tuple[int, _Rates], ...]
    """``(threshold_tokens, rates)`` ascending; a tier applies when total input > threshold."""

    def rates_for(self, total_input_tokens: int) -> _Rates:
        for threshold, rates in reversed(self.tiers):
            if total_input_tokens > threshold:
                return rates
        return self.base


@dataclass(frozen=True, slots=True)
class _Cached:
    prices: _ModelPrices | None
    valid_until_s: float


def _rates(per_mtok: Mapping[str, Decimal]) -> _Rates:
    """Per-token rates from per-million prices, the cache ones derived when missing."""
    base = per_mtok["input_mtok"]
    full = {key: per_mtok.get(key, _CTX.multiply(base, m)) for key, m in _CACHE_MULTIPLIERS.items()}
    per_token = [
        _CTX.scaleb(price, -6)
        for price in (
            base,
            per_mtok["output_mtok"],
            full["cache_read_mtok"],
            full["cache_write_5m_mtok"],
            full["cache_write_1h_mtok"],
        )
    ]
    digits = max(0, *(-int(rate.as_tuple().exponent) for rate in per_token))
    scaled = [int(_CTX.scaleb(rate, digits)) for rate in per_token]
    return _Rates(10**digits, *scaled)


class PriceTable:
    """Prices Anthropic calls from genai-prices' bundled data, with overrides that win.

    Model names are matched as the API returns them: aliases (``claude-sonnet-4-5``) and dated
    names (``claude-sonnet-4-5-20250929``) alike. An override for ``claude-x`` also prices
    ``claude-x-20250101``. Prices resolved for a model are cached; genai-prices prices that
    change on a known date are looked up again once that date has come.

    genai-prices is never asked to update itself: this table reads the data bundled in the
    installed package and ignores any snapshot a ``genai_prices.UpdatePrices`` task fetched.
    Where genai-prices knows no 1-hour cache write price (every current Claude model has one),
    it is taken as 2 x the input price, and likewise 0.1 x for reads and 1.25 x for 5-minute
    writes.

    The trap: genai-prices gives some models a long-context tier (Claude Sonnet 4.5: above
    200k input tokens, input 6.00 and output 22.50 per million) but not others that Anthropic
    prices the same way with the 1M-context beta (Claude Sonnet 4, ``claude-sonnet-4-20250514``,
    stays at 3.00 / 15.00). Give such a model an override with ``long_context_*`` keys.

    Args:
        overrides: ``{model: {key: USD per million tokens}}`` or the path (``str`` or
            ``Path``) of a ``.toml`` or ``.json`` file holding the same. Keys: ``input_mtok``
            and ``output_mtok`` (required), ``cache_read_mtok``, ``cache_write_5m_mtok``,
            ``cache_write_1h_mtok`` (derived from the input price when omitted), and for a
            long-context tier ``long_context_threshold_tokens`` (an int: the tier applies when
            the call's total input is above it) with ``long_context_input_mtok`` and
            ``long_context_output_mtok`` (required with a threshold) and the optional
            ``long_context_cache_*`` prices. An override replaces genai-prices' prices for that
            model entirely.
        provider: The genai-prices provider id whose models are looked up.
        clock: Seconds since the epoch; decides which dated genai-prices price applies.

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
        self._provider = provider
        self._clock = time.time if clock is None else clock
        self._overrides = _load_overrides(overrides)
        self._cache: dict[str, _Cached] = {}
        self._snapshot = _bundled_snapshot()
        try:
            self._snapshot.find_provider(None, provider, None)
        except LookupError:
            raise PriceTableError(
                f"genai-prices knows no provider {provider!r}; pass a provider id such as "
                f"'anthropic'",
                key="provider",
            ) from None

    def is_priced(self, model: str) -> bool:
        """Whether calls to ``model`` can be priced.

        Args:
            model: The model name as the API returns it.

        Returns:
            ``True`` when an override or genai-prices has input and output prices for it.
        """
        return self._lookup(model) is not None

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
        """Price one call.

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
        )
        for count in counts:
            if type(count) is not int or count < 0:
                _reject_counts(counts)
        parts = self.parts(model, counts)
        if parts is None:
            return None
        input_usd, output_usd, read_usd, write_5m_usd, write_1h_usd, total_usd, without = parts
        return CallCost(
            input_usd=input_usd,
            output_usd=output_usd,
            cache_read_usd=read_usd,
            cache_write_5m_usd=write_5m_usd,
            cache_write_1h_usd=write_1h_usd,
            total_usd=total_usd,
            without_cache_usd=without,
        )

    def parts(
        self, model: str, counts: tuple[int, int, int, int, int]
    ) -> tuple[float, float, float, float, float, float, float] | None:
        """:meth:`cost` as a plain tuple in :class:`CallCost`'s field order, for hot paths.

        ``counts`` are the five token counts in :meth:`cost`'s order, not checked: pass
        ints >= 0 (``cost`` checks them).
        """
        (
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_5m_tokens,
            cache_write_1h_tokens,
        ) = counts
        prices = self._lookup(model)
        if prices is None:
            return None
        all_input = input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
        rates = prices.rates_for(all_input)
        input_usd = rates.input * input_tokens
        output_usd = rates.output * output_tokens
        read_usd = rates.cache_read * cache_read_tokens
        write_5m_usd = rates.cache_write_5m * cache_write_5m_tokens
        write_1h_usd = rates.cache_write_1h * cache_write_1h_tokens
        scale = rates.scale
        return (
            input_usd / scale,
            output_usd / scale,
            read_usd / scale,
            write_5m_usd / scale,
            write_1h_usd / scale,
            (input_usd + output_usd + read_usd + write_5m_usd + write_1h_usd) / scale,
            (rates.input * all_input + output_usd) / scale,
        )

    def _lookup(self, model: str) -> _ModelPrices | None:
        cached = self._cache.get(model)
        if cached is not None and (
            cached.valid_until_s == math.inf or self._clock() < cached.valid_until_s
        ):
            return cached.prices
        if len(self._cache) >= _MAX_CACHED_MODELS:
            self._cache.clear()
        fresh = self._resolve(model)
        self._cache[model] = fresh
        return fresh.prices

    def _resolve(self, model: str) -> _Cached:
        name = model.lower()
        override = self._overrides.get(name)
        if override is None:
            override = self._overrides.get(_DATE_SUFFIX.sub("", name))
        if override is not None:
            return _Cached(override, math.inf)
        try:
            _, info = self._snapshot.find_provider_model(name, None, self._provider, None)
        except LookupError:
            return _Cached(None, math.inf)
        now_s = self._clock()
        at = datetime.fromtimestamp(now_s, tz=timezone.utc)
        return _Cached(_from_genai(info.get_prices(at)), _valid_until(info, now_s))


@cache
def _bundled_snapshot() -> DataSnapshot:
    """genai-prices' bundled data, never the process-wide snapshot an updater may replace."""
    from genai_prices.data import providers
    from genai_prices.data_snapshot import DataSnapshot

    return DataSnapshot(providers=providers, from_auto_update=False)


def _valid_until(info: ModelInfo, now_s: float) -> float:
    """When the prices resolved at ``now_s`` may change: the next dated price, if any."""
    if not isinstance(info.prices, list):
        return math.inf
    until = math.inf
    for conditional in info.prices:
        constraint = conditional.constraint
        if constraint is None:
            continue
        if not isinstance(constraint, StartDateConstraint):
            return now_s  # time-of-day prices: resolve on every call
        start = datetime.combine(constraint.start_date, dtime(), tzinfo=timezone.utc).timestamp()
        if start > now_s:
            until = min(until, start)
    return until


def _from_genai(price: ModelPrice) -> _ModelPrices | None:
    """Our rates from a genai-prices ``ModelPrice``; ``None`` without input or output price."""
    by_key: dict[str, Decimal | TieredPrices | None] = {
        "input_mtok": price.input_mtok,
        "output_mtok": price.output_mtok,
        "cache_read_mtok": price.cache_read_mtok,
        "cache_write_5m_mtok": (
            price.cache_write_mtok
            if price.cache_write_5m_mtok is None
            else price.cache_write_5m_mtok
        ),
        "cache_write_1h_mtok": price.cache_write_1h_mtok,
    }
    if by_key["input_mtok"] is None or by_key["output_mtok"] is None:
        return None
    thresholds = sorted(
        {tier.start for p in by_key.values() if isinstance(p, TieredPrices) for tier in p.tiers}
    )

    def at_level(threshold: int | None) -> _Rates:
        level: dict[str, Decimal] = {}
        for key, p in by_key.items():
            if isinstance(p, TieredPrices):
                applicable = [
                    t.price for t in p.tiers if threshold is not None and t.start <= threshold
                ]
                level[key] = applicable[-1] if applicable else p.base
            elif p is not None:
                level[key] = p
        return _rates(level)

    return _ModelPrices(at_level(None), tuple((t, at_level(t)) for t in thresholds))


def _reject_counts(counts: tuple[object, ...]) -> None:
    for name, count in zip(_COUNT_NAMES, counts, strict=True):
        if type(count) is not int or count < 0:
            raise TokenCountError(
                f"{name} must be an int >= 0, got {count!r}; pass 0 for a count the API left out",
                field=name,
            )


def _load_overrides(overrides: PriceOverrides | None) -> dict[str, _ModelPrices]:
    if overrides is None:
        return {}
    source: object = (
        _read_file(Path(overrides)) if isinstance(overrides, (str, Path)) else overrides
    )
    if not isinstance(source, Mapping):
        raise PriceTableError(
            f"price overrides must be a mapping of model to prices, or a file path; got "
            f"{type(source).__name__}"
        )
    table: dict[str, _ModelPrices] = {}
    for model, entry in source.items():
        if not isinstance(model, str) or not model:
            raise PriceTableError(
                f"price override model names must be non-empty strings: {model!r}"
            )
        name = model.lower()
        if name in table:
            raise PriceTableError(
                f"price override for model {model!r} is given twice (names ignore case)",
                model=model,
            )
        table[name] = _parse_entry(model, entry)
    return table


def _read_file(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise PriceTableError(f"price override file {str(path)!r} must end in .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceTableError(f"cannot read price override file {str(path)!r}: {exc}") from exc
    try:
        if suffix == ".json":
            return json.loads(text)
        return _parse_toml(text)
    except ValueError as exc:  # json.JSONDecodeError and TOMLDecodeError are ValueErrors
        raise PriceTableError(f"price override file {str(path)!r} is not valid: {exc}") from exc


def _parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise PriceTableError(
                "reading a .toml price override file on Python 3.10 needs the 'tomli' package; "
                "install it or use a .json file"
            ) from None
    parsed: dict[str, Any] = tomllib.loads(text)
    return parsed


def _parse_entry(model: str, entry: object) -> _ModelPrices:
    if not isinstance(entry, Mapping):
        raise PriceTableError(
            f"price override for model {model!r} must be a mapping of keys to prices, got "
            f"{type(entry).__name__}",
            model=model,
        )
    for key in entry:
        if key not in _ALLOWED_KEYS:
            raise PriceTableError(
                f"price override for model {model!r} has unknown key {key!r}; known keys: "
                f"{', '.join(sorted(_ALLOWED_KEYS))}",
                model=model,
                key=str(key),
            )
    prices = {
        key: _price(model, key, value) for key, value in entry.items() if key != _THRESHOLD_KEY
    }
    base = {key: prices[key] for key in _PRICE_KEYS if key in prices}
    long = {key: prices[_LONG_PREFIX + key] for key in _PRICE_KEYS if _LONG_PREFIX + key in prices}
    _require(model, base, ("input_mtok", "output_mtok"))
    if _THRESHOLD_KEY not in entry:
        if long:
            key = _LONG_PREFIX + next(iter(long))
            raise PriceTableError(
                f"price override for model {model!r} has {key!r} but no {_THRESHOLD_KEY!r}",
                model=model,
                key=key,
            )
        return _ModelPrices(_rates(base), ())
    threshold = entry[_THRESHOLD_KEY]
    if type(threshold) is not int or threshold <= 0:
        raise PriceTableError(
            f"price override for model {model!r}: {_THRESHOLD_KEY!r} must be an int > 0 "
            f"(tokens), got {threshold!r}",
            model=model,
            key=_THRESHOLD_KEY,
        )
    _require(model, long, ("input_mtok", "output_mtok"), prefix=_LONG_PREFIX)
    return _ModelPrices(_rates(base), ((threshold, _rates(long)),))


def _require(
    model: str, prices: Mapping[str, Decimal], keys: tuple[str, ...], *, prefix: str = ""
) -> None:
    for key in keys:
        if key not in prices:
            raise PriceTableError(
                f"price override for model {model!r} is missing {prefix + key!r}",
                model=model,
                key=prefix + key,
            )


def _price(model: str, key: str, value: object) -> Decimal:
    """An exact, finite price >= 0 from an int, float or Decimal (floats by their repr)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise PriceTableError(
            f"price override for model {model!r}: {key!r} must be a number (USD per million "
            f"tokens), got {value!r}",
            model=model,
            key=key,
        )
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite() or exact < 0:
        raise PriceTableError(
            f"price override for model {model!r}: {key!r} must be a finite number >= 0, got "
            f"{value!r}",
            model=model,
            key=key,
        )
    return exact
