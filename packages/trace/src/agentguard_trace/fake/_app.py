"""The ASGI app of the fake Messages API and the script state behind it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Final

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentguard_trace.fake._prompt import PromptCache, PromptError, estimate_input_tokens
from agentguard_trace.fake._script import (
    Answer,
    Delay,
    Fail,
    FailMidStream,
    RecordedRequest,
    Reply,
    Step,
)
from agentguard_trace.fake._wire import (
    Message,
    Usage,
    broken_stream_events,
    derived_text,
    error_json,
    estimate_output_tokens,
    make_id,
    stream_events,
)

if TYPE_CHECKING:
    from starlette.requests import Request

_RECORDED_HEADERS: Final = (
    "anthropic-beta",
    "anthropic-version",
    "content-type",
    "idempotency-key",
    "user-agent",
    "x-stainless-retry-count",
    "x-stainless-timeout",
)
_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_MESSAGES: Final = "/v1/messages"
_COUNT_TOKENS: Final = "/v1/messages/count_tokens"


class _InvalidRequestError(Exception):
    """A request the API would reject with 400 ``invalid_request_error``."""


def _require_messages(body: Mapping[str, object]) -> None:
    messages = body.get("messages")
    if "messages" not in body:
        raise _InvalidRequestError("messages: Field required")
    if not isinstance(messages, list):
        raise _InvalidRequestError("messages: Input should be a valid list")
    if not messages:
        raise _InvalidRequestError("messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _InvalidRequestError(f"messages.{i}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise _InvalidRequestError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise _InvalidRequestError(f"messages.{i}.content: Field required")
        if not isinstance(message["content"], (str, list)):
            raise _InvalidRequestError(f"messages.{i}.content: Input should be a valid list")


def _validate(path: str, raw: bytes) -> dict[str, object]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise _InvalidRequestError(f"There was an error parsing the body: {error}") from None
    if not isinstance(body, dict):
        raise _InvalidRequestError("Input should be a valid dictionary")
    model = body.get("model")
    if "model" not in body:
        raise _InvalidRequestError("model: Field required")
    if not isinstance(model, str):
        raise _InvalidRequestError("model: Input should be a valid string")
    _require_messages(body)
    if path == _MESSAGES:
        max_tokens = body.get("max_tokens")
        if "max_tokens" not in body:
            raise _InvalidRequestError("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise _InvalidRequestError("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise _InvalidRequestError("max_tokens: Input should be greater than or equal to 1")
        if not isinstance(body.get("stream", False), bool):
            raise _InvalidRequestError("stream: Input should be a valid boolean")
    return body


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else format(seconds, "g")


async def _aiter(events: Iterator[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


class ScriptedAPI:
    """Queue, records, counters and prompt cache of one fake server; thread-safe."""

    def __init__(self, *, seed: int, clock: Callable[[], float], min_cacheable_tokens: int) -> None:
        self.seed = seed
        self.cache = PromptCache(clock=clock, min_cacheable_tokens=min_cacheable_tokens)
        self._lock = threading.Lock()
        self._queue: deque[Step] = deque()
        self._records: list[RecordedRequest] = []
        self._count = 0
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=_METHODS)])

    def enqueue(self, *steps: Step) -> None:
        """Append steps to the script, checking their types."""
        for step in steps:
            if not isinstance(step, (Reply, Fail, FailMidStream, Delay)):
                raise TypeError(
                    f"enqueue() takes Reply, Fail, FailMidStream or Delay, not {step!r}"
                )
        with self._lock:
            self._queue.extend(steps)

    def reset(self) -> None:
        """Forget the queue, the records, the counter and the prompt cache."""
        with self._lock:
            self._queue.clear()
            self._records.clear()
            self._count = 0
        self.cache.clear()

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request received so far, oldest first."""
        with self._lock:
            return tuple(self._records)

    @property
    def pending(self) -> tuple[Step, ...]:
        """The steps not yet used."""
        with self._lock:
            return tuple(self._queue)

    def _take(self) -> tuple[int, Answer | None, float]:
        with self._lock:
            self._count += 1
            delay = 0.0
            while self._queue:
                step = self._queue.popleft()
                if not isinstance(step, Delay):
                    return self._count, step, delay
                delay += step.seconds
            return self._count, None, delay

    def _next_number(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def _record(
        self,
        request: Request,
        body: object,
        *,
        step: Answer | None,
        delay_s: float,
        status: int,
        request_id: str,
        stream: bool,
    ) -> None:
        headers = {
            name: request.headers[name] for name in _RECORDED_HEADERS if name in request.headers
        }
        record = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers=headers,
            body=body,
            step=step,
            delay_s=delay_s,
            status=status,
            request_id=request_id,
            stream=stream,
        )
        with self._lock:
            self._records.append(record)

    def _request_id(self, number: int) -> str:
        return make_id("req_011C", self.seed, "req", number, length=20)

    def _reject(self, request: Request, body: object, fail: Fail) -> Response:
        request_id = self._request_id(self._next_number())
        self._record(
            request,
            body,
            step=None,
            delay_s=0.0,
            status=fail.status,
            request_id=request_id,
            stream=False,
        )
        return self._error(fail, request_id)

    def _error(self, fail: Fail, request_id: str) -> Response:
        headers = {"request-id": request_id}
        if fail.retry_after_s is not None:
            headers["retry-after"] = _retry_after(fail.retry_after_s)
        if fail.should_retry is not None:
            headers["x-should-retry"] = "true" if fail.should_retry else "false"
        content = error_json(fail.resolved_type, fail.resolved_message, request_id, fail.error_code)
        return JSONResponse(content, status_code=fail.status, headers=headers)

    async def _dispatch(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: object = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        path = request.url.path
        if path not in (_MESSAGES, _COUNT_TOKENS):
            return self._reject(request, body, Fail(status=404, message="Not Found"))
        if request.method != "POST":
            fail = Fail(
                status=405, error_type="invalid_request_error", message="Method Not Allowed"
            )
            return self._reject(request, body, fail)
        try:
            valid = _validate(path, raw)
            if path == _COUNT_TOKENS:
                tokens = estimate_input_tokens(valid)
        except (_InvalidRequestError, PromptError) as invalid:
            return self._reject(request, body, Fail(status=400, message=str(invalid)))
        if path == _COUNT_TOKENS:
            request_id = self._request_id(self._next_number())
            self._record(
                request,
                body,
                step=None,
                delay_s=0.0,
                status=200,
                request_id=request_id,
                stream=False,
            )
            return JSONResponse({"input_tokens": tokens}, headers={"request-id": request_id})
        return await self._messages(request, valid)

    async def _messages(self, request: Request, body: dict[str, object]) -> Response:
        number, step, delay = self._take()
        request_id = self._request_id(number)
        stream = body.get("stream") is True
        response = self._answer(number, step, body, request_id, stream)
        self._record(
            request,
            body,
            step=step,
            delay_s=delay,
            status=response.status_code,
            request_id=request_id,
            stream=stream,
        )
        if delay > 0:
            await asyncio.sleep(delay)
        return response

    def _answer(
        self,
        number: int,
        step: Answer | None,
        body: dict[str, object],
        request_id: str,
        stream: bool,
    ) -> Response:
        if isinstance(step, Fail):
            return self._error(step, request_id)
        if isinstance(step, FailMidStream) and not stream:
            return self._error(step.as_fail(), request_id)
        reply = step if isinstance(step, Reply) else Reply()
        if isinstance(step, FailMidStream):
            reply = Reply(text=step.text)
        try:
            message = self._message(number, reply, body)
        except PromptError as error:
            return self._error(Fail(status=400, message=str(error)), request_id)
        headers = {"request-id": request_id}
        if not stream:
            return JSONResponse(message.as_json(), headers=headers)
        headers["cache-control"] = "no-cache"
        if isinstance(step, FailMidStream):
            event = error_json(step.error_type, step.message, request_id)
            events = broken_stream_events(message, step.after_deltas, event)
        else:
            events = stream_events(message)
        return StreamingResponse(_aiter(events), media_type="text/event-stream", headers=headers)

    def _message(self, number: int, reply: Reply, body: dict[str, object]) -> Message:
        model = str(body["model"])
        max_tokens = body["max_tokens"]
        assert isinstance(max_tokens, int)
        stop_reason = reply.stop_reason
        text = reply.text
        if text is None and reply.tool_use is None:
            text = derived_text(self.seed, body)
            if estimate_output_tokens(text, None) > max_tokens and stop_reason is None:
                text = text[: max_tokens * 4]
                stop_reason = "max_tokens"
        content: list[Mapping[str, object]] = []
        if text:
            content.append({"type": "text", "text": text})
        tool = reply.tool_use
        if tool is not None:
            tool_id = tool.id or make_id("toolu_01", self.seed, "toolu", number)
            content.append(
                {"type": "tool_use", "id": tool_id, "name": tool.name, "input": dict(tool.input)}
            )
        if reply.input_tokens is None:
            outcome = self.cache.account(model, body)
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
        if stop_reason is None:
            stop_reason = "tool_use" if tool is not None else "end_turn"
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_input_tokens=read,
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
        )
        return Message(
            id=make_id("msg_01", self.seed, "msg", number),
            model=reply.model or model,
            content=tuple(content),
            stop_reason=stop_reason,
            stop_sequence=reply.stop_sequence,
            usage=usage,
        )
