"""Token estimates and the prompt-cache emulation of the fake server.

A request is cut into blocks in the order the API builds its cache prefix: tools, then
system blocks, then the content blocks of each message. Each block costs about one token
per four characters. A ``cache_control`` breakpoint marks the end of a cacheable prefix:
the first request with that prefix writes it (``cache_creation`` 5m or 1h, by the
breakpoint's ``ttl``), later requests within the TTL read it and refresh it. Like the API,
a breakpoint also finds an entry written up to 20 blocks before it, which is what lets a
growing conversation read the part it already cached and write only the new turn, and
prefixes shorter than the model's minimum are not cached at all.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

CHARS_PER_TOKEN: Final = 4
"""The rough ratio used for every estimate."""
LOOKBACK_BLOCKS: Final = 20
"""How many blocks before a breakpoint are checked for a cache entry."""
MAX_BREAKPOINTS: Final = 4
"""The API rejects requests with more ``cache_control`` blocks."""
TTL_S: Final[Mapping[str, float]] = {"5m": 300.0, "1h": 3600.0}
"""The cache TTLs the API accepts."""


class PromptError(ValueError):
    """The request's prompt is malformed; the message is the API's ``error.message``."""


@dataclass(frozen=True, slots=True)
class _Block:
    tokens: int
    canonical: bytes
    ttl: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheOutcome:
    """How a request's input tokens split between the cache and fresh input."""

    input_tokens: int
    """Uncached input tokens."""
    cache_read_input_tokens: int
    """Tokens read from the cache."""
    cache_write_5m_tokens: int
    """Tokens written to the 5-minute cache."""
    cache_write_1h_tokens: int
    """Tokens written to the 1-hour cache."""


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _tokens(text: str) -> int:
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def _ttl_of(where: str, block: Mapping[str, object]) -> str | None:
    control = block.get("cache_control")
    if control is None:
        return None
    if not isinstance(control, Mapping) or control.get("type") != "ephemeral":
        raise PromptError(f"{where}.cache_control.type: Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in TTL_S:
        raise PromptError(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    return str(ttl)


def _block(where: str, role: str, value: object) -> _Block:
    if isinstance(value, Mapping):
        ttl = _ttl_of(where, value)
        stripped = {key: item for key, item in value.items() if key != "cache_control"}
        text = stripped.get("text")
        counted = text if isinstance(text, str) else _canonical(stripped)
        return _Block(_tokens(counted), f"{role}:{_canonical(stripped)}".encode(), ttl)
    counted = value if isinstance(value, str) else _canonical(value)
    return _Block(_tokens(counted), f"{role}:{_canonical(value)}".encode(), None)


def _blocks(body: Mapping[str, object]) -> list[_Block]:
    blocks: list[_Block] = []
    tools = body.get("tools")
    if isinstance(tools, Sequence) and not isinstance(tools, str):
        blocks.extend(_block(f"tools.{i}", "tool", tool) for i, tool in enumerate(tools))
    system = body.get("system")
    if isinstance(system, Sequence) and not isinstance(system, str):
        blocks.extend(_block(f"system.{i}", "system", part) for i, part in enumerate(system))
    elif system is not None:
        blocks.append(_block("system", "system", system))
    messages = body.get("messages")
    if isinstance(messages, Sequence) and not isinstance(messages, str):
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping):
                blocks.append(_block(f"messages.{i}", "message", message))
                continue
            role = str(message.get("role"))
            content = message.get("content")
            if isinstance(content, Sequence) and not isinstance(content, str):
                where = f"messages.{i}.content"
                blocks.extend(_block(f"{where}.{j}", role, part) for j, part in enumerate(content))
            else:
                blocks.append(_block(f"messages.{i}.content", role, content))
    return blocks


def estimate_input_tokens(body: Mapping[str, object]) -> int:
    """Estimate the input tokens of a Messages request (about four characters a token).

    Raises:
        PromptError: A ``cache_control`` is malformed.
    """
    return max(1, sum(block.tokens for block in _blocks(body)))


class PromptCache:
    """The prompt cache of one fake server, keyed by model and prefix hash, thread-safe."""

    def __init__(self, *, clock: Callable[[], float], min_cacheable_tokens: int) -> None:
        self._clock = clock
        self._min_tokens = min_cacheable_tokens
        self._entries: dict[bytes, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def account(self, model: str, body: Mapping[str, object]) -> CacheOutcome:
        """Split a request's input tokens into read, written and uncached, updating the cache.

        Raises:
            PromptError: A ``cache_control`` is malformed or there are too many.
        """
        blocks = _blocks(body)
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl is not None]
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise PromptError(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {len(breakpoints)}."
            )
        cumulative: list[int] = []
        digests: list[bytes] = []
        running = hashlib.sha256(model.encode())
        total = 0
        for block in blocks:
            total += block.tokens
            cumulative.append(total)
            running.update(len(block.canonical).to_bytes(8, "big") + block.canonical)
            digests.append(running.digest())
        total = max(total, 1)
        with self._lock:
            now = self._clock()
            live = {key: entry for key, entry in self._entries.items() if entry[0] > now}
            hit = -1
            for index in breakpoints:
                for position in range(index, max(-1, index - LOOKBACK_BLOCKS - 1), -1):
                    if digests[position] in live:
                        hit = max(hit, position)
                        break
            if hit >= 0:
                ttl_s = live[digests[hit]][1]
                live[digests[hit]] = (now + ttl_s, ttl_s)
            written = {"5m": 0, "1h": 0}
            boundary = hit
            for index in breakpoints:
                ttl = blocks[index].ttl
                if index <= boundary or ttl is None or cumulative[index] < self._min_tokens:
                    continue
                written[ttl] += cumulative[index] - (cumulative[boundary] if boundary >= 0 else 0)
                live[digests[index]] = (now + TTL_S[ttl], TTL_S[ttl])
                boundary = index
            self._entries = live
        read = cumulative[hit] if hit >= 0 else 0
        return CacheOutcome(
            input_tokens=total - read - written["5m"] - written["1h"],
            cache_read_input_tokens=read,
            cache_write_5m_tokens=written["5m"],
            cache_write_1h_tokens=written["1h"],
        )
