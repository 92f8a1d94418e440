"""Reading what an Anthropic ``usage`` object reports: the one reader of usage in agentguard.

:func:`read_usage` turns a Messages API ``usage`` (the SDK's model, a decoded dict, any SDK
version, a proxy's) into a :class:`Usage`; the tracer reads each call's usage with it, and
so does ``agentguard-claude-agent`` for the Claude Agent SDK's and Managed Agents' usage::

    usage = read_usage(message.usage)
    parts = PriceTable().price_parts(message.model, usage.counts(), speed=usage.speed)

Bad values never raise: a missing or null count is 0; a negative, mistyped or absurd one
(past :mod:`agentguard.limits`' token range) is 0 too, logged once per episode on the
``agentguard.trace`` logger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, TypedDict

from agentguard.episodes import FailureEpisodes
from agentguard.limits import limit_for

__all__ = ["Usage", "UsageFields", "read_usage"]

_MAX_COUNT: Final = int(limit_for("input_tokens").high)  # type: ignore[union-attr]  # tokens have a range
"""The largest token or request count one call may report (:mod:`agentguard.limits`)."""


class UsageFields(TypedDict):
    """A :class:`Usage` as the ``LLMCallFinished`` fields of the same names."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    thinking_tokens: int
    web_search_requests: int
    web_fetch_requests: int
    speed: str | None
    service_tier: str | None
    inference_geo: str | None


_BAD_USAGE: Final = FailureEpisodes(logging.getLogger("agentguard.trace"))
_EPISODE: Final = "agentguard.trace.usage"


@dataclass(slots=True, kw_only=True)
class Usage:
    """One model request's usage in the Messages API's terms.

    Not frozen: the tracer fills one in place from a stream's running totals, and a frozen
    dataclass's ``__init__`` costs more than the rest of a Claude Agent SDK hook's work.
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
    thinking_tokens: int = 0
    """``usage.output_tokens_details.thinking_tokens`` (at most ``output_tokens``)."""
    web_search_requests: int = 0
    """``usage.server_tool_use.web_search_requests``."""
    web_fetch_requests: int = 0
    """``usage.server_tool_use.web_fetch_requests``."""
    speed: str | None = None
    """``usage.speed`` (``fast``, ``standard``)."""
    service_tier: str | None = None
    """``usage.service_tier`` (``standard``, ``priority``, ``batch``)."""
    inference_geo: str | None = None
    """``usage.inference_geo``."""

    def read(self, usage: object, *, running: bool = False) -> None:
        """Take what ``usage`` reports (a model or a decoded dict), as :func:`read_usage` does.

        When the 5m/1h split of the cache writes is absent, all of
        ``cache_creation_input_tokens`` counts as 5-minute writes, the API's default lifetime.
        With ``running`` (a stream's ``message_delta``, whose usage holds running totals) only
        the fields present replace what was known.
        """
        uncached = _get(usage, "input_tokens")
        output = _get(usage, "output_tokens")
        read = _get(usage, "cache_read_input_tokens")
        created = _get(usage, "cache_creation_input_tokens")
        split = _get(usage, "cache_creation")
        if uncached is not None or not running:
            self.input_tokens = _count(uncached, "input_tokens")
        if output is not None or not running:
            self.output_tokens = _count(output, "output_tokens")
        if read is not None or not running:
            self.cache_read_tokens = _count(read, "cache_read_input_tokens")
        if split is not None:
            self.cache_write_5m_tokens = _count(
                _get(split, "ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens"
            )
            self.cache_write_1h_tokens = _count(
                _get(split, "ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens"
            )
        elif not running:
            self.cache_write_5m_tokens = _count(created, "cache_creation_input_tokens")
            self.cache_write_1h_tokens = 0
        elif created is not None:
            # A running total without the split keeps the split already known.
            self.cache_write_5m_tokens = max(
                _count(created, "cache_creation_input_tokens") - self.cache_write_1h_tokens, 0
            )
        details = _get(usage, "output_tokens_details")
        if details is not None:
            thinking = _count(_get(details, "thinking_tokens"), "thinking_tokens")
            self.thinking_tokens = min(thinking, self.output_tokens) if self.output_tokens else 0
        server = _get(usage, "server_tool_use")
        if server is not None:
            self.web_search_requests = _count(
                _get(server, "web_search_requests"), "web_search_requests"
            )
            self.web_fetch_requests = _count(
                _get(server, "web_fetch_requests"), "web_fetch_requests"
            )
        speed = _word(_get(usage, "speed"))
        if speed is not None:
            self.speed = speed
        tier = _word(_get(usage, "service_tier"))
        if tier is not None:
            self.service_tier = tier
        geo = _word(_get(usage, "inference_geo"))
        if geo is not None:
            self.inference_geo = geo

    def event_fields(self) -> UsageFields:
        """These figures as keyword arguments of ``LLMCallFinished`` (same names)."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "thinking_tokens": self.thinking_tokens,
            "web_search_requests": self.web_search_requests,
            "web_fetch_requests": self.web_fetch_requests,
            "speed": self.speed,
            "service_tier": self.service_tier,
            "inference_geo": self.inference_geo,
        }

    def counts(self) -> tuple[int, int, int, int, int, int, int]:
        """The seven counts ``PriceTable.price_parts`` takes, in its order."""
        return (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.web_search_requests,
            self.web_fetch_requests,
        )


def read_usage(usage: object) -> Usage:
    """What an Anthropic ``usage`` object reports (the SDK's model or a decoded dict).

    Never raises: missing or null counts read as 0, and bad ones too (logged once per
    episode on ``agentguard.trace``). See :meth:`Usage.read`.
    """
    found = Usage()
    found.read(usage)
    return found


def _count(value: object, field: str) -> int:
    """A usage count in range: missing or null is 0; anything else wrong is 0, logged.

    The range is the tokens' of :mod:`agentguard.limits`: a count past it is a proxy's or a
    parser's garbage, refused here, at the producer's edge, before it is priced and summed.
    """
    if type(value) is int and 0 <= value <= _MAX_COUNT:
        return value
    if value is not None:
        _BAD_USAGE.failed(
            _EPISODE,
            f"usage field {field!r} is {type(value).__name__} {value!r:.40}, not an int from "
            f"0 to {_MAX_COUNT:,}; counted as 0 (a proxy or an old SDK?)",
        )
    return 0


def _word(value: object) -> str | None:
    """A short enum-like usage string (``fast``, ``priority``, a region), or ``None``."""
    if isinstance(value, str) and 0 < len(value) <= 64:
        return value
    return None


def _get(usage: object, name: str) -> object:
    """A field of a usage or message: a decoded dict (a stream's) or the SDK's model.

    ``type() is dict``, not ``isinstance(..., Mapping)``: this runs some twenty times per call
    (P4), and an ABC check costs ten times a type check; JSON decodes to plain dicts.
    """
    if type(usage) is dict:
        return usage.get(name)
    return getattr(usage, name, None)
