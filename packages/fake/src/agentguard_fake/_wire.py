"""The bytes of the Messages API: ids, message and error bodies, and server-sent events."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from agentguard_fake._prompt import CacheOutcome
    from agentguard_fake._script import Reply

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


def make_uuid(*parts: object) -> str:
    """A deterministic UUID-shaped id, as AWS request ids look."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


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
    """The usage numbers of one answer; ``None`` fields are not sent."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    service_tier: str = "standard"
    thinking_tokens: int | None = None
    web_search_requests: int | None = None
    web_fetch_requests: int | None = None
    speed: str | None = None
    inference_geo: str | None = None

    def _input_json(self) -> dict[str, object]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_write_5m_tokens + self.cache_write_1h_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }

    def _counted_json(self) -> dict[str, object]:
        """What accrues while the answer is generated: output, thinking, server tool use."""
        counted: dict[str, object] = {"output_tokens": self.output_tokens}
        if self.web_search_requests is not None or self.web_fetch_requests is not None:
            counted["server_tool_use"] = {
                "web_search_requests": self.web_search_requests or 0,
                "web_fetch_requests": self.web_fetch_requests or 0,
            }
        if self.thinking_tokens is not None:
            counted["output_tokens_details"] = {"thinking_tokens": self.thinking_tokens}
        return counted

    def as_json(self) -> dict[str, object]:
        """The ``usage`` object of a message."""
        usage = {
            **self._input_json(),
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_write_5m_tokens,
                "ephemeral_1h_input_tokens": self.cache_write_1h_tokens,
            },
            **self._counted_json(),
            "service_tier": self.service_tier,
        }
        if self.speed is not None:
            usage["speed"] = self.speed
        if self.inference_geo is not None:
            usage["inference_geo"] = self.inference_geo
        return usage

    def start_json(self) -> dict[str, object]:
        """The ``usage`` of ``message_start``: input, tier, speed and geo; 1 output token.

        What accrues later (server tool use, thinking) is left to ``message_delta``,
        whose usage type has no tier, speed or geo: those only come here.
        """
        usage = self.as_json()
        usage.pop("server_tool_use", None)
        usage.pop("output_tokens_details", None)
        usage["output_tokens"] = min(1, self.output_tokens)
        return usage

    def delta_json(self) -> dict[str, object]:
        """The ``usage`` of ``message_delta``: cumulative totals, as the API sends them."""
        return {**self._input_json(), **self._counted_json()}


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


Event = Mapping[str, object]
"""One Messages stream event; its ``type`` is the SSE event name."""


def _block_events(index: int, block: Mapping[str, object]) -> Iterator[Event]:
    if block["type"] == "tool_use":
        yield _start(index, {**block, "input": {}})
        partial = json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False)
        deltas = [""] + [
            partial[i : i + _JSON_CHARS_PER_DELTA]
            for i in range(0, len(partial), _JSON_CHARS_PER_DELTA)
        ]
        for chunk in deltas:
            yield _delta(index, "input_json_delta", "partial_json", chunk)
    else:
        yield _start(index, {**block, "text": ""})
        for chunk in text_chunks(str(block["text"])):
            yield _delta(index, "text_delta", "text", chunk)
    yield {"type": "content_block_stop", "index": index}


def _start(index: int, block: Mapping[str, object]) -> dict[str, object]:
    return {"type": "content_block_start", "index": index, "content_block": dict(block)}


def _delta(index: int, kind: str, key: str, value: str) -> dict[str, object]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: value}}


def message_start(message: Message) -> Event:
    """``message_start``: the message without content, its input usage and 1 output token."""
    started = {
        **message.as_json(),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": message.usage.start_json(),
    }
    return {"type": "message_start", "message": started}


def stream_events(message: Message, *, stop: Mapping[str, object] | None = None) -> Iterator[Event]:
    """Every event of a streamed answer, from ``message_start`` to ``message_stop``.

    Args:
        message: The answer.
        stop: Fields added to ``message_stop`` (Bedrock adds its invocation metrics).
    """
    yield message_start(message)
    ping = {"type": "ping"}
    for index, block in enumerate(message.content):
        events = _block_events(index, block)
        yield next(events)
        if index == 0:
            yield ping
        yield from events
    if not message.content:
        yield ping
    delta = {"stop_reason": message.stop_reason, "stop_sequence": message.stop_sequence}
    yield {"type": "message_delta", "delta": delta, "usage": message.usage.delta_json()}
    yield {"type": "message_stop", **(stop or {})}


def broken_stream_events(message: Message, after_deltas: int) -> Iterator[Event]:
    """The start of a streamed answer, up to ``after_deltas`` deltas; the error comes next."""
    sent = 0
    for event in stream_events(message):
        kind = event["type"]
        if kind == "content_block_delta":
            if sent >= after_deltas:
                return
            sent += 1
        elif kind in ("content_block_stop", "message_delta"):
            return
        yield event


def sse_stream(events: Iterator[Event]) -> Iterator[bytes]:
    """The events as server-sent events, named by their ``type``."""
    for event in events:
        yield sse(str(event["type"]), event)


def requested(
    body: Mapping[str, object], name: str, allowed: tuple[str, ...] | None = None
) -> str | None:
    """A string option of the request (``speed``, ``inference_geo``) that usage reports."""
    value = body.get(name)
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        return None
    return value


def reply_message(
    reply: Reply,
    body: Mapping[str, object],
    *,
    seed: int,
    key: object,
    account: Callable[[str, Mapping[str, object]], CacheOutcome],
    answer_model: Callable[[str], str],
    service_tier: str = "standard",
) -> Message:
    """The message a :class:`Reply` step makes of a valid request.

    Args:
        reply: The scripted reply; its ``None`` fields are derived from the request.
        body: The request, with its ``model`` (Bedrock and Vertex name it in the URL).
        seed: The server's seed, for derived texts and ids.
        key: Makes the ids: the request number, or the batch and custom id.
        account: Splits the input tokens between the prompt cache and fresh input.
        answer_model: The model the answer names, from the requested one.
        service_tier: ``usage.service_tier`` unless the reply names one.

    Raises:
        PromptError: The request's ``cache_control`` is malformed.
    """
    model = str(body["model"])
    max_tokens = body["max_tokens"]
    assert isinstance(max_tokens, int)
    stop_reason = reply.stop_reason
    text = reply.text
    if text is None and reply.tool_use is None:
        text = derived_text(seed, body)
        if estimate_output_tokens(text, None) > max_tokens and stop_reason is None:
            text = text[: max_tokens * 4]
            stop_reason = "max_tokens"
    content: list[Mapping[str, object]] = []
    if text:
        content.append({"type": "text", "text": text})
    tool = reply.tool_use
    if tool is not None:
        tool_id = tool.id or make_id("toolu_01", seed, "toolu", key)
        content.append(
            {"type": "tool_use", "id": tool_id, "name": tool.name, "input": dict(tool.input)}
        )
    if reply.input_tokens is None:
        outcome = account(model, body)
        input_tokens = outcome.input_tokens
        read = outcome.cache_read_input_tokens
        write_5m, write_1h = outcome.cache_write_5m_tokens, outcome.cache_write_1h_tokens
    else:
        input_tokens = reply.input_tokens
        read = reply.cache_read_input_tokens or 0
        write_5m, write_1h = reply.cache_write_5m_tokens or 0, reply.cache_write_1h_tokens or 0
    output_tokens = reply.output_tokens
    if output_tokens is None:
        output_tokens = estimate_output_tokens(text or "", tool.input if tool else None)
        output_tokens += reply.thinking_tokens or 0
    if stop_reason is None:
        stop_reason = "tool_use" if tool is not None else "end_turn"
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_input_tokens=read,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        service_tier=reply.service_tier or service_tier,
        thinking_tokens=reply.thinking_tokens,
        web_search_requests=reply.web_search_requests,
        web_fetch_requests=reply.web_fetch_requests,
        speed=reply.speed or requested(body, "speed", ("standard", "fast")),
        inference_geo=reply.inference_geo or requested(body, "inference_geo"),
    )
    return Message(
        id=make_id("msg_01", seed, "msg", key),
        model=reply.model or answer_model(model),
        content=tuple(content),
        stop_reason=stop_reason,
        stop_sequence=reply.stop_sequence,
        usage=usage,
    )
