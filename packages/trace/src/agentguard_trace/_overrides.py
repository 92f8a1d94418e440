"""Price overrides: read, checked and turned into exact rates by Anthropic's rules."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from agentguard_trace._rates import EXACT, Levels, Rates, rates
from agentguard_trace.errors import PriceTableError

if TYPE_CHECKING:
    from agentguard_trace.pricing import PriceOverrides

_PRICE_KEYS: Final = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_5m_mtok",
    "cache_write_1h_mtok",
)
_WEB_SEARCH_KEY: Final = "web_search_per_k"
_LONG_PREFIX: Final = "long_context_"
_THRESHOLD_KEY: Final = "long_context_threshold_tokens"
ALLOWED_KEYS: Final = frozenset(
    (*_PRICE_KEYS, *(_LONG_PREFIX + key for key in _PRICE_KEYS), _THRESHOLD_KEY, _WEB_SEARCH_KEY)
)
_MULTIPLIERS: Final = {
    "cache_read_mtok": Decimal("0.1"),
    "cache_write_5m_mtok": Decimal("1.25"),
    "cache_write_1h_mtok": Decimal("2"),
}
_WEB_SEARCH_PER_K: Final = Decimal(10)
"""Anthropic's price of 1,000 server-side web searches, the same for every model."""


def load_overrides(overrides: PriceOverrides | None) -> dict[str, Levels]:
    """``{lower-case model name: levels}`` from a mapping or a TOML/JSON file.

    Raises:
        PriceTableError: Anything wrong, naming the model and key where there is one.
    """
    if overrides is None:
        return {}
    source: object = (
        _read_file(Path(overrides)) if isinstance(overrides, (str, Path)) else overrides
    )
    if not isinstance(source, Mapping):
        raise _error(
            f"price overrides must be a mapping of model to prices, or a file path; got "
            f"{type(source).__name__}"
        )
    table: dict[str, Levels] = {}
    for model, entry in source.items():
        if not isinstance(model, str) or not model:
            raise _error(f"price override model names must be non-empty strings: {model!r}")
        name = model.lower()
        if name in table:
            raise _error(
                f"price override for model {model!r} is given twice (names ignore case)",
                model=model,
            )
        table[name] = _parse_entry(model, entry)
    return table


def _error(message: str, *, model: str | None = None, key: str | None = None) -> Exception:
    return PriceTableError(message, model=model, key=key)


def _override_rates(per_mtok: Mapping[str, Decimal], web_search_per_k: Decimal) -> Rates:
    """Per-unit rates from per-million prices, the cache ones derived when missing."""
    base = per_mtok["input_mtok"]
    full = {key: per_mtok.get(key, EXACT.multiply(base, m)) for key, m in _MULTIPLIERS.items()}
    return rates(
        {
            "input_tokens": EXACT.scaleb(base, -6),
            "output_tokens": EXACT.scaleb(per_mtok["output_mtok"], -6),
            "cache_read_tokens": EXACT.scaleb(full["cache_read_mtok"], -6),
            "cache_write_5m_tokens": EXACT.scaleb(full["cache_write_5m_mtok"], -6),
            "cache_write_1h_tokens": EXACT.scaleb(full["cache_write_1h_mtok"], -6),
            "web_search_requests": EXACT.scaleb(web_search_per_k, -3),
        }
    )


def _read_file(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise _error(f"price override file {str(path)!r} must end in .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(f"cannot read price override file {str(path)!r}: {exc}") from exc
    try:
        if suffix == ".json":
            return json.loads(text)
        return _parse_toml(text)
    except ValueError as exc:  # json.JSONDecodeError and TOMLDecodeError are ValueErrors
        raise _error(f"price override file {str(path)!r} is not valid: {exc}") from exc


def _parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise _error(
                "reading a .toml price override file on Python 3.10 needs the 'tomli' package; "
                "install it or use a .json file"
            ) from None
    parsed: dict[str, Any] = tomllib.loads(text)
    return parsed


def _parse_entry(model: str, entry: object) -> Levels:
    if not isinstance(entry, Mapping):
        raise _error(
            f"price override for model {model!r} must be a mapping of keys to prices, got "
            f"{type(entry).__name__}",
            model=model,
        )
    for key in entry:
        if key not in ALLOWED_KEYS:
            raise _error(
                f"price override for model {model!r} has unknown key {key!r}; known keys: "
                f"{', '.join(sorted(ALLOWED_KEYS))}",
                model=model,
                key=str(key),
            )
    prices = {
        key: _price(model, key, value) for key, value in entry.items() if key != _THRESHOLD_KEY
    }
    web_search = prices.get(_WEB_SEARCH_KEY, _WEB_SEARCH_PER_K)
    base = {key: prices[key] for key in _PRICE_KEYS if key in prices}
    long = {key: prices[_LONG_PREFIX + key] for key in _PRICE_KEYS if _LONG_PREFIX + key in prices}
    _require(model, base, ("input_mtok", "output_mtok"))
    if _THRESHOLD_KEY not in entry:
        if long:
            key = _LONG_PREFIX + next(iter(long))
            raise _error(
                f"price override for model {model!r} has {key!r} but no {_THRESHOLD_KEY!r}",
                model=model,
                key=key,
            )
        return Levels(_override_rates(base, web_search), ())
    threshold = entry[_THRESHOLD_KEY]
    if type(threshold) is not int or threshold <= 0:
        raise _error(
            f"price override for model {model!r}: {_THRESHOLD_KEY!r} must be an int > 0 "
            f"(tokens), got {threshold!r}",
            model=model,
            key=_THRESHOLD_KEY,
        )
    _require(model, long, ("input_mtok", "output_mtok"), prefix=_LONG_PREFIX)
    return Levels(
        _override_rates(base, web_search), ((threshold, _override_rates(long, web_search)),)
    )


def _require(
    model: str, prices: Mapping[str, Decimal], keys: tuple[str, ...], *, prefix: str = ""
) -> None:
    for key in keys:
        if key not in prices:
            raise _error(
                f"price override for model {model!r} is missing {prefix + key!r}",
                model=model,
                key=prefix + key,
            )


def _price(model: str, key: str, value: object) -> Decimal:
    """An exact, finite price >= 0 from an int, float or Decimal (floats by their repr)."""
    unit = "USD per 1,000 searches" if key == _WEB_SEARCH_KEY else "USD per million tokens"
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _error(
            f"price override for model {model!r}: {key!r} must be a number ({unit}), got {value!r}",
            model=model,
            key=key,
        )
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite() or exact < 0:
        raise _error(
            f"price override for model {model!r}: {key!r} must be a finite number >= 0, got "
            f"{value!r}",
            model=model,
            key=key,
        )
    return exact
