"""The shapes of requests and answers: URLs, bodies, and each provider's framing.

First-party (``/v1/messages...``, also under a prefix such as Foundry's ``/anthropic``, and
what ``AnthropicAWS`` and ``AnthropicGoogleCloud`` send to a ``base_url``), Bedrock
(``/model/{model}/invoke`` and ``/invoke-with-response-stream``: event-stream framing,
``{"message": ...}`` errors named by ``x-amzn-ErrorType``) and Vertex
(``/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict`` and
``:streamRawPredict``: the first-party bodies and server-sent events).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from starlette.responses import JSONResponse, Response, StreamingResponse

from agentguard_fake import _eventstream
from agentguard_fake._script import Fail, Provider
from agentguard_fake._wire import Event, Message, error_json, sse_stream

Endpoint: TypeAlias = Literal[
    "messages", "count_tokens", "batches", "batch", "batch_cancel", "batch_results"
]

_FIRST_PARTY: Final = re.compile(
    r"(?P<prefix>(?:/[^/]+)*?)/v1/messages"
    r"(?:/(?P<rest>count_tokens|batches)(?:/(?P<id>[^/]+)(?:/(?P<action>cancel|results))?)?)?/?"
)
_BEDROCK: Final = re.compile(
    r"(?P<prefix>(?:/[^/]+)*?)/model/(?P<model>[^/]+)/(?P<action>invoke|invoke-with-response-stream)"
)
_VERTEX: Final = re.compile(
    r"(?P<prefix>(?:/[^/]+)*?)/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/"
    r"(?P<model>[^/:]+):(?P<action>rawPredict|streamRawPredict)"
)
_METHODS: Final[Mapping[Endpoint, tuple[str, ...]]] = {
    "messages": ("POST",),
    "count_tokens": ("POST",),
    "batches": ("GET", "POST"),
    "batch": ("GET", "DELETE"),
    "batch_cancel": ("POST",),
    "batch_results": ("GET",),
}
_BEDROCK_ERRORS: Final[Mapping[int, str]] = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    413: "ValidationException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    529: "ServiceUnavailableException",
}
_BEDROCK_MESSAGES: Final[Mapping[str, str]] = {
    "ValidationException": "Malformed input request, please reformat your input and try again.",
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ResourceNotFoundException": "The requested resource could not be found.",
    "ModelTimeoutException": "Model has timed out in processing the request.",
    "ModelErrorException": "The model returned an error.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "InternalServerException": "The server encountered an internal error.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
}
_BEDROCK_ERROR_NAMESPACE: Final = "http://internal.amazon.com/coral/com.amazon.bedrock/"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """What a request path asks for."""

    endpoint: Endpoint
    provider: Provider
    prefix: str
    """The path before the API's own, e.g. Foundry's ``/anthropic``."""
    model: str | None = None
    """The model named in the URL (Bedrock, Vertex)."""
    stream: bool | None = None
    """Whether the URL asks for a stream; ``None`` leaves it to the body."""
    batch_id: str | None = None

    def allows(self, method: str) -> bool:
        """Whether the endpoint answers ``method``."""
        return method in _METHODS[self.endpoint]


def route(raw_path: str) -> Route | None:
    """The route of a still percent-encoded path, or ``None`` for a path the API lacks."""
    if match := _FIRST_PARTY.fullmatch(raw_path):
        prefix, rest, batch_id, action = match.group("prefix", "rest", "id", "action")
        endpoint: Endpoint
        if rest is None:
            endpoint = "messages"
        elif rest == "count_tokens":
            endpoint = "count_tokens"
        elif batch_id is None:
            endpoint = "batches"
        else:
            endpoint = "batch_cancel" if action == "cancel" else "batch"
            endpoint = "batch_results" if action == "results" else endpoint
        batch_id = urllib.parse.unquote(batch_id) if batch_id else None
        return Route(endpoint=endpoint, provider="anthropic", prefix=prefix, batch_id=batch_id)
    if match := _BEDROCK.fullmatch(raw_path):
        return Route(
            endpoint="messages",
            provider="bedrock",
            prefix=match["prefix"],
            model=urllib.parse.unquote(match["model"]),
            stream=match["action"] == "invoke-with-response-stream",
        )
    if match := _VERTEX.fullmatch(raw_path):
        model = urllib.parse.unquote(match["model"])
        if model == "count-tokens" and match["action"] == "rawPredict":
            return Route(endpoint="count_tokens", provider="vertex", prefix=match["prefix"])
        return Route(endpoint="messages", provider="vertex", prefix=match["prefix"], model=model)
    return None


class InvalidRequestError(Exception):
    """A request the API would reject with 400 ``invalid_request_error``."""


def _require_messages(body: Mapping[str, object]) -> None:
    messages = body.get("messages")
    if "messages" not in body:
        raise InvalidRequestError("messages: Field required")
    if not isinstance(messages, list):
        raise InvalidRequestError("messages: Input should be a valid list")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages.{i}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise InvalidRequestError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise InvalidRequestError(f"messages.{i}.content: Field required")
        if not isinstance(message["content"], (str, list)):
            raise InvalidRequestError(f"messages.{i}.content: Input should be a valid list")


def validate(body: object, route: Route) -> dict[str, object]:
    """The body of a Messages or token-counting request, as the model will see it.

    Bedrock and Vertex name the model in the URL (then it is added to the body) and need
    ``anthropic_version`` in the body; Bedrock's URL says whether to stream.
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("Input should be a valid dictionary")
    if route.model is not None:
        if "anthropic_version" not in body:
            raise InvalidRequestError("anthropic_version: Field required")
        body = {**body, "model": route.model}
    model = body.get("model")
    if "model" not in body:
        raise InvalidRequestError("model: Field required")
    if not isinstance(model, str):
        raise InvalidRequestError("model: Input should be a valid string")
    _require_messages(body)
    if route.endpoint == "messages":
        max_tokens = body.get("max_tokens")
        if "max_tokens" not in body:
            raise InvalidRequestError("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise InvalidRequestError("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise InvalidRequestError("max_tokens: Input should be greater than or equal to 1")
        if not isinstance(body.get("stream", False), bool):
            raise InvalidRequestError("stream: Input should be a valid boolean")
    return body


def request_id_header(provider: Provider) -> str:
    """The response header that carries the request id."""
    return "x-amzn-RequestId" if provider == "bedrock" else "request-id"


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else format(seconds, "g")


def bedrock_error_name(status: int) -> str:
    """The exception Bedrock names in ``x-amzn-ErrorType`` for an HTTP status."""
    fallback = "InternalServerException" if status >= 500 else "ValidationException"
    return _BEDROCK_ERRORS.get(status, fallback)


def error_response(provider: Provider, fail: Fail, request_id: str) -> Response:
    """The HTTP error ``fail`` as ``provider`` sends it.

    Bedrock sends ``{"message": ...}`` and names the error in ``x-amzn-ErrorType``; a
    scripted ``message`` is sent as is, otherwise Bedrock's own wording. A scripted
    ``retry-after`` or ``x-should-retry`` is sent on every provider, so tests do not wait.
    """
    headers = {request_id_header(provider): request_id}
    if fail.retry_after_s is not None:
        headers["retry-after"] = _retry_after(fail.retry_after_s)
    if fail.should_retry is not None:
        headers["x-should-retry"] = "true" if fail.should_retry else "false"
    if provider == "bedrock":
        name = bedrock_error_name(fail.status)
        headers["x-amzn-ErrorType"] = f"{name}:{_BEDROCK_ERROR_NAMESPACE}"
        message = fail.message if fail.message is not None else _BEDROCK_MESSAGES[name]
        return JSONResponse({"message": message}, status_code=fail.status, headers=headers)
    content = error_json(fail.resolved_type, fail.resolved_message, request_id, fail.error_code)
    return JSONResponse(content, status_code=fail.status, headers=headers)


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _bedrock_chunks(events: Iterator[Event], error: Fail | None) -> Iterator[bytes]:
    for event in events:
        yield _eventstream.chunk(event)
    if error is not None:
        name = bedrock_error_name(error.status)
        yield _eventstream.exception(name[0].lower() + name[1:], error.resolved_message)


def _sse_chunks(events: Iterator[Event], error: Mapping[str, object] | None) -> Iterator[bytes]:
    yield from sse_stream(events)
    if error is not None:
        yield from sse_stream(iter([error]))


def message_response(provider: Provider, message: Message, request_id: str) -> Response:
    """A complete answer as one JSON body."""
    headers = {request_id_header(provider): request_id}
    if provider == "bedrock":
        usage = message.usage
        headers["x-amzn-bedrock-input-token-count"] = str(usage.input_tokens)
        headers["x-amzn-bedrock-output-token-count"] = str(usage.output_tokens)
    return JSONResponse(message.as_json(), headers=headers)


def stream_response(
    provider: Provider, events: Iterator[Event], request_id: str, error: Fail | None = None
) -> Response:
    """A streamed answer: server-sent events, or AWS event-stream frames on Bedrock.

    Args:
        provider: Who frames it.
        events: The Messages stream events.
        request_id: The request id header's value.
        error: A failure sent after the events (``event: error``, or an ``exception``
            frame on Bedrock).
    """
    headers = {request_id_header(provider): request_id}
    if provider == "bedrock":
        chunks = _bedrock_chunks(events, error)
        media_type = _eventstream.CONTENT_TYPE
    else:
        headers["cache-control"] = "no-cache"
        body = None
        if error is not None:
            body = error_json(error.resolved_type, error.resolved_message, request_id)
        chunks = _sse_chunks(events, body)
        media_type = "text/event-stream"
    return StreamingResponse(_aiter(chunks), media_type=media_type, headers=headers)


def invocation_metrics(message: Message) -> dict[str, object]:
    """What Bedrock adds to ``message_stop``: its own count of the call's tokens."""
    return {
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": message.usage.input_tokens,
            "outputTokenCount": message.usage.output_tokens,
            "invocationLatency": 0,
            "firstByteLatency": 0,
        }
    }
