"""Script steps: what the fake server answers, one queued step per Messages request.

:class:`Batch` steps script Message Batches and sit in a queue of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

Speed: TypeAlias = Literal["standard", "fast"]
"""The ``usage.speed`` values the Messages API sends."""
ServiceTier: TypeAlias = Literal["standard", "priority", "batch"]
"""The ``usage.service_tier`` values the Messages API sends."""
BatchOutcome: TypeAlias = Literal["expired", "canceled"]
"""A batch request that was never processed, as its result type names it."""
Provider: TypeAlias = Literal["anthropic", "bedrock", "vertex"]
"""The URL shapes the fake server answers."""

StopReason: TypeAlias = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]
"""The ``stop_reason`` values the Messages API sends."""

DEFAULT_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""The ``error.type`` the real API sends with each status."""

DEFAULT_ERROR_MESSAGES: Final[Mapping[str, str]] = {
    "invalid_request_error": "Invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": (
        "This request would exceed the rate limit for your organization of 50 requests per "
        "minute. Please reduce the request rate or try again later."
    ),
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}
"""The ``error.message`` the fake sends when a step names none."""

_STATUS_OF_TYPE: Final[Mapping[str, int]] = {
    error_type: status for status, error_type in DEFAULT_ERROR_TYPES.items()
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolUse:
    """A ``tool_use`` content block in a scripted reply."""

    name: str
    """The tool the model calls."""
    input: Mapping[str, object] = field(default_factory=dict)
    """The arguments, a JSON object."""
    id: str | None = None
    """The block id; ``None`` derives a ``toolu_...`` id from the seed and the request count."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A successful answer (HTTP 200), streamed when the request asked for a stream.

    Usage has two halves. The input side (``input_tokens`` and the cache fields) is scripted
    as a whole when ``input_tokens`` is set (cache fields left ``None`` count as 0); when it is
    ``None`` the server estimates it from the request and runs its prompt-cache emulation.
    ``output_tokens=None`` estimates output from the reply's text and tool input.
    """

    text: str | None = None
    """The text block; ``None`` derives a sentence from the request and the seed, unless
    ``tool_use`` is set (then there is no text block); ``""`` sends no text block."""
    tool_use: ToolUse | None = None
    """A ``tool_use`` block after the text."""
    stop_reason: StopReason | None = None
    """``None`` means ``"tool_use"`` with a tool call, ``"end_turn"`` otherwise."""
    stop_sequence: str | None = None
    """The stop sequence that ended the turn, with ``stop_reason="stop_sequence"``."""
    input_tokens: int | None = None
    """Uncached input tokens."""
    output_tokens: int | None = None
    """Output tokens."""
    cache_read_input_tokens: int | None = None
    """Input tokens read from the prompt cache."""
    cache_write_5m_tokens: int | None = None
    """Input tokens written to the 5-minute cache (``ephemeral_5m_input_tokens``)."""
    cache_write_1h_tokens: int | None = None
    """Input tokens written to the 1-hour cache (``ephemeral_1h_input_tokens``)."""
    model: str | None = None
    """The model named in the answer; ``None`` echoes the requested one, or what the
    server's ``answer_model`` makes of it."""
    thinking_tokens: int | None = None
    """Output tokens spent thinking (``usage.output_tokens_details.thinking_tokens``). They
    are part of ``output_tokens``: an estimated output adds them, a scripted one includes
    them. ``None`` sends no ``output_tokens_details``."""
    web_search_requests: int | None = None
    """Web searches the server ran (``usage.server_tool_use.web_search_requests``);
    ``None`` with ``web_fetch_requests`` also ``None`` sends no ``server_tool_use``."""
    web_fetch_requests: int | None = None
    """Web fetches the server ran (``usage.server_tool_use.web_fetch_requests``)."""
    speed: Speed | None = None
    """``usage.speed``; ``None`` sends the request's ``speed``, none if it has none."""
    service_tier: ServiceTier | None = None
    """``usage.service_tier``; ``None`` sends ``"standard"``, or ``"batch"`` in a batch."""
    inference_geo: str | None = None
    """``usage.inference_geo``, where the answer was computed (e.g. ``"us"``); ``None``
    sends the request's ``inference_geo``, none if it has none."""

    def __post_init__(self) -> None:
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "thinking_tokens",
            "web_search_requests",
            "web_fetch_requests",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Reply({name}={value}) must not be negative")
        output, thinking = self.output_tokens, self.thinking_tokens
        if output is not None and thinking is not None and thinking > output:
            raise ValueError(
                f"Reply(thinking_tokens={thinking}) is part of output_tokens={output}, so "
                "it cannot be larger; leave output_tokens=None to add it to an estimate"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Fail:
    """An HTTP error with the API's error body ``{"type":"error","error":{...},"request_id":...}``.

    The SDK turns it into the exception class it maps to ``(status, error_code)``.
    """

    status: int = 500
    """The HTTP status."""
    error_type: str | None = None
    """``error.type``; ``None`` uses the API's type for ``status`` (``api_error`` if unknown)."""
    message: str | None = None
    """``error.message``; ``None`` uses a message worded like the API's for the type."""
    retry_after_s: float | None = None
    """Sends a ``retry-after`` header. The API sends whole seconds; a fraction is sent as a
    decimal, which the SDK honours, so tests can retry without waiting a second. The SDK
    ignores ``0`` and falls back to its own backoff (about half a second)."""
    error_code: str | None = None
    """Sends ``error.details.error_code`` (e.g. ``"enforced_spend_limit_reached"``), which
    the SDK exposes as ``APIStatusError.error_code`` and uses to pick a subclass."""
    should_retry: bool | None = None
    """Sends ``x-should-retry: true|false``, which overrides the SDK's retry decision."""

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"Fail(status={self.status}) must be a 4xx or 5xx; use Reply for 200")

    @classmethod
    def prompt_too_long(cls, prompt_tokens: int = 250_000, maximum: int = 200_000) -> Fail:
        """The 400 the API sends when the prompt exceeds the context window.

        Args:
            prompt_tokens: The prompt size named in the message.
            maximum: The context window named in the message.
        """
        return cls(
            status=400,
            error_type="invalid_request_error",
            message=f"prompt is too long: {prompt_tokens} tokens > {maximum} maximum",
        )

    @property
    def resolved_type(self) -> str:
        """The ``error.type`` that is sent."""
        if self.error_type is not None:
            return self.error_type
        return DEFAULT_ERROR_TYPES.get(self.status, "api_error")

    @property
    def resolved_message(self) -> str:
        """The ``error.message`` that is sent."""
        if self.message is not None:
            return self.message
        return DEFAULT_ERROR_MESSAGES.get(self.resolved_type, "Error")


@dataclass(frozen=True, slots=True, kw_only=True)
class FailMidStream:
    """A stream that starts well, then sends ``event: error`` and ends.

    Answering a request that did not ask for a stream, it is a plain HTTP error with the
    status the API uses for ``error_type`` (529 for ``overloaded_error``).
    """

    after_deltas: int = 1
    """How many text deltas are sent before the error event."""
    error_type: str = "overloaded_error"
    """``error.type`` of the error event."""
    message: str = "Overloaded"
    """``error.message`` of the error event."""
    text: str | None = None
    """The text that starts streaming; ``None`` derives it like :class:`Reply` does."""

    def as_fail(self) -> Fail:
        """The HTTP error this step is for a request that is not streamed."""
        status = _STATUS_OF_TYPE.get(self.error_type, 500)
        return Fail(status=status, error_type=self.error_type, message=self.message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delay:
    """Waits before the next answer (the next queued step, or the default reply).

    For provoking client timeouts. Delays in a row add up.
    """

    seconds: float
    """How long to wait before sending the response headers."""

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"Delay(seconds={self.seconds}) must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """How the next Message Batch created on the server is processed.

    Each request's result comes from ``outcomes`` by its ``custom_id``: a :class:`Reply`
    succeeds (with ``service_tier`` ``"batch"`` unless the reply names one), a :class:`Fail`
    or :class:`FailMidStream` errors with the API's error body, ``"expired"`` and
    ``"canceled"`` were never processed. A request not named gets ``default``. Batches
    created with no ``Batch`` queued end at once with every request answered as a plain
    request with an empty queue would be.
    """

    outcomes: Mapping[str, Answer | BatchOutcome] = field(default_factory=dict)
    """Results by ``custom_id``."""
    default: Answer | BatchOutcome | None = None
    """The result of requests not in ``outcomes``; ``None`` is the derived reply."""
    polls_in_progress: int = 0
    """How many retrievals answer ``processing_status: "in_progress"`` before the batch
    ends; meanwhile ``cancel`` moves it to ``"canceling"`` and the next retrieval ends it
    with its unprocessed requests ``canceled``."""

    def __post_init__(self) -> None:
        if self.polls_in_progress < 0:
            raise ValueError(f"Batch(polls_in_progress={self.polls_in_progress}) is negative")
        for custom_id, outcome in self.outcomes.items():
            if not isinstance(outcome, (Reply, Fail, FailMidStream)) and outcome not in (
                "expired",
                "canceled",
            ):
                raise TypeError(
                    f"Batch outcome for {custom_id!r} must be a Reply, Fail, FailMidStream, "
                    f"'expired' or 'canceled', not {outcome!r}"
                )


Answer: TypeAlias = Reply | Fail | FailMidStream
"""A step that answers a request."""
Step: TypeAlias = Reply | Fail | FailMidStream | Delay | Batch
"""Anything :meth:`FakeAnthropicServer.enqueue` accepts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One HTTP request the server received."""

    method: str
    """The HTTP method."""
    path: str
    """The URL path, e.g. ``/v1/messages``."""
    headers: Mapping[str, str]
    """The headers worth asserting on (``anthropic-version``, ``x-stainless-retry-count``,
    ``idempotency-key``, ...); credentials are never recorded."""
    body: object
    """The JSON body, or ``None`` when it was not valid JSON."""
    step: Answer | Batch | None
    """The script step that answered (the :class:`Batch` for a batch created by one);
    ``None`` for the default reply, other requests and requests rejected as malformed."""
    delay_s: float
    """The scripted delay before the answer."""
    status: int
    """The HTTP status of the answer (200 for a stream, even one that failed midway)."""
    request_id: str
    """The ``request-id`` header sent back."""
    stream: bool
    """Whether the request asked for a stream."""
    query: str = ""
    """The raw query string, e.g. ``beta=true`` from the SDK's ``client.beta`` resources."""
    provider: Provider = "anthropic"
    """The URL shape the request used: ``"anthropic"`` (``/v1/...``, also under a prefix
    as Foundry sends it), ``"bedrock"`` (``/model/{model}/invoke...``) or ``"vertex"``
    (``/projects/.../models/{model}:rawPredict``)."""
    model: str | None = None
    """The model asked for, from the body or, for Bedrock and Vertex, from the URL."""
