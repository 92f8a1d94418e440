"""The bytes of the Messages API: ids, message and error bodies, and server-sent events."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORDS: Final = (
    "agent",
    "answer",
    "budget",
    "cache",
    "call",
    "careful",
    "check",
    "clear",
    "context",
    "cost",
    "data",
    "detail",
    "done",
    "error",
    "first",
    "good",
    "guard",
    "help",
    "input",
    "issue",
    "latency",
    "look",
    "model",
    "next",
    "note",
    "output",
    "plan",
    "prompt",
    "quick",
    "ready",
    "reply",
    "request",
    "result",
    "retry",
    "run",
    "safe",
    "seed",
    "short",
    "step",
    "stream",
    "sure",
    "task",
    "test",
    "think",
    "token",
    "tool",
    "trace",
    "usage",
    "value",
    "warm",
    "work",
)
_WORDS_PER_DELTA: Final = 2
_JSON_CHARS_PER_DELTA: Final = 16


def make_id(prefix: str, *parts: object, length: int = 22) -> str:
    """A deterministic id in the API's style: ``prefix`` and base62 characters from ``parts``."""
    number = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest(), "big")
    chars: list[str] = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def derived_text(seed: int, body: Mapping[str, object]) -> str:
    """A short sentence chosen by ``seed`` and the request body: same inputs, same text."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{seed}:{canonical}".encode()).digest()
    count = 8 + digest[0] % 17
    words = [_WORDS[digest[1 + i] % len(_WORDS)] for i in range(count)]
    return " ".join(words).capitalize() + "."


def estimate_output_tokens(text: str, tool_input: Mapping[str, object] | None) -> int:
    """About one token per four characters of text and tool-input JSON, at least one."""
    chars = len(text) + (len(json.dumps(tool_input)) if tool_input is not None else 0)
    return max(1, -(-chars // 4))


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """The usage numbers of one answer."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int

    def as_json(self, *, output_tokens: int | None = None) -> dict[str, object]:
        """The ``usage`` object of a message (``output_tokens`` overridable for streams)."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_write_5m_tokens + self.cache_write_1h_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_write_5m_tokens,
                "ephemeral_1h_input_tokens": self.cache_write_1h_tokens,
            },
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
            "service_tier": "standard",
        }

    def delta_json(self) -> dict[str, object]:
        """The ``usage`` of ``message_delta``: cumulative totals, as the API sends them."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_write_5m_tokens + self.cache_write_1h_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A complete answer, ready to be sent as one JSON body or as a stream."""

    id: str
    model: str
    content: tuple[Mapping[str, object], ...]
    stop_reason: str
    stop_sequence: str | None
    usage: Usage

    def as_json(self) -> dict[str, object]:
        """The body of a non-streamed answer."""
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [dict(block) for block in self.content],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage.as_json(),
        }


def error_json(
    error_type: str, message: str, request_id: str, error_code: str | None = None
) -> dict[str, object]:
    """The API's error body, with ``error.details.error_code`` when there is a code."""
    error: dict[str, object] = {"type": error_type, "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": request_id}


def sse(event: str, data: Mapping[str, object]) -> bytes:
    """One server-sent event as the API frames it."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def text_chunks(text: str) -> list[str]:
    """Split text into the several small deltas a stream sends (a few words each)."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    return [
        "".join(pieces[i : i + _WORDS_PER_DELTA]) for i in range(0, len(pieces), _WORDS_PER_DELTA)
    ]


def _block_events(index: int, block: Mapping[str, object]) -> Iterator[bytes]:
    if block["type"] == "tool_use":
        start = {**block, "input": {}}
        yield sse("content_block_start", _start(index, start))
        partial = json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False)
        deltas = [""] + [
            partial[i : i + _JSON_CHARS_PER_DELTA]
            for i in range(0, len(partial), _JSON_CHARS_PER_DELTA)
        ]
        for chunk in deltas:
            yield sse(
                "content_block_delta", _delta(index, "input_json_delta", "partial_json", chunk)
            )
    else:
        yield sse("content_block_start", _start(index, {**block, "text": ""}))
        for chunk in text_chunks(str(block["text"])):
            yield sse("content_block_delta", _delta(index, "text_delta", "text", chunk))
    yield sse("content_block_stop", {"type": "content_block_stop", "index": index})


def _start(index: int, block: Mapping[str, object]) -> dict[str, object]:
    return {"type": "content_block_start", "index": index, "content_block": dict(block)}


def _delta(index: int, kind: str, key: str, value: str) -> dict[str, object]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: value}}


def message_start(message: Message) -> bytes:
    """``message_start``: the message without content, its input usage and 1 output token."""
    started = {
        **message.as_json(),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": message.usage.as_json(output_tokens=min(1, message.usage.output_tokens)),
    }
    return sse("message_start", {"type": "message_start", "message": started})


def stream_events(message: Message) -> Iterator[bytes]:
    """Every event of a streamed answer, from ``message_start`` to ``message_stop``."""
    yield message_start(message)
    for index, block in enumerate(message.content):
        events = _block_events(index, block)
        yield next(events)
        if index == 0:
            yield sse("ping", {"type": "ping"})
        yield from events
    if not message.content:
        yield sse("ping", {"type": "ping"})
    delta = {"stop_reason": message.stop_reason, "stop_sequence": message.stop_sequence}
    yield sse(
        "message_delta",
        {"type": "message_delta", "delta": delta, "usage": message.usage.delta_json()},
    )
    yield sse("message_stop", {"type": "message_stop"})


def broken_stream_events(
    message: Message, after_deltas: int, error: Mapping[str, object]
) -> Iterator[bytes]:
    """The start of a streamed answer, then ``event: error`` after ``after_deltas`` deltas."""
    sent = 0
    for event in stream_events(message):
        if event.startswith(b"event: content_block_delta"):
            if sent >= after_deltas:
                break
            sent += 1
        elif event.startswith((b"event: content_block_stop", b"event: message_delta")):
            break
        yield event
    yield sse("error", error)
