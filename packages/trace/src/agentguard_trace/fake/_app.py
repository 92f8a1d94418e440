"""The ASGI app of the fake Messages API and the script state behind it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, TypeAlias

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from agentguard_trace.fake._batches import BatchError, BatchStore, StoredBatch, parse_requests
from agentguard_trace.fake._prompt import PromptCache, PromptError, estimate_input_tokens
from agentguard_trace.fake._script import (
    Answer,
    Batch,
    BatchOutcome,
    Delay,
    Fail,
    FailMidStream,
    Provider,
    RecordedRequest,
    Reply,
    ServiceTier,
    Step,
)
from agentguard_trace.fake._shapes import (
    Route,
    error_response,
    invocation_metrics,
    message_response,
    route,
    stream_response,
)
from agentguard_trace.fake._wire import (
    Message,
    Usage,
    broken_stream_events,
    derived_text,
    error_json,
    estimate_output_tokens,
    make_id,
    make_uuid,
    stream_events,
)

if TYPE_CHECKING:
    from starlette.requests import Request

AnswerModel: TypeAlias = "Mapping[str, str] | Callable[[str], str] | None"

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


def _validate(body: object, route: Route) -> dict[str, object]:
    """The body of a Messages or token-counting request, as the model will see it.

    Bedrock and Vertex name the model in the URL (then it is added to the body) and need
    ``anthropic_version`` in the body; Bedrock's URL says whether to stream.
    """
    if not isinstance(body, dict):
        raise _InvalidRequestError("Input should be a valid dictionary")
    if route.model is not None:
        if "anthropic_version" not in body:
            raise _InvalidRequestError("anthropic_version: Field required")
        body = {**body, "model": route.model}
    model = body.get("model")
    if "model" not in body:
        raise _InvalidRequestError("model: Field required")
    if not isinstance(model, str):
        raise _InvalidRequestError("model: Input should be a valid string")
    _require_messages(body)
    if route.endpoint == "messages":
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


def _requested(
    body: Mapping[str, object], name: str, allowed: tuple[str, ...] | None = None
) -> str | None:
    """A string option of the request (``speed``, ``inference_geo``) that usage reports."""
    value = body.get(name)
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        return None
    return value


def _answering(answer_model: AnswerModel) -> Callable[[str], str]:
    if answer_model is None:
        return lambda model: model
    if isinstance(answer_model, Mapping):
        aliases = dict(answer_model)
        return lambda model: aliases.get(model, model)
    if callable(answer_model):
        return answer_model
    raise TypeError(
        f"answer_model must be a mapping of models, a callable or None, not {answer_model!r}"
    )


class ScriptedAPI:
    """Queues, records, counters, prompt cache and batches of one fake server; thread-safe."""

    def __init__(
        self,
        *,
        seed: int,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        min_cacheable_tokens: int,
        answer_model: AnswerModel,
    ) -> None:
        self.seed = seed
        self.cache = PromptCache(clock=clock, min_cacheable_tokens=min_cacheable_tokens)
        self.batches = BatchStore(wall_clock=wall_clock)
        self._answer_model = _answering(answer_model)
        self._lock = threading.Lock()
        self._queue: deque[Answer | Delay] = deque()
        self._batch_queue: deque[Batch] = deque()
        self._records: list[RecordedRequest] = []
        self._count = 0
        self.app = Starlette(
            routes=[StarletteRoute("/{path:path}", self._dispatch, methods=_METHODS)]
        )

    def enqueue(self, *steps: Step) -> None:
        """Append steps to the script (a :class:`Batch` to the batch queue), checking types."""
        for step in steps:
            if not isinstance(step, (Reply, Fail, FailMidStream, Delay, Batch)):
                raise TypeError(
                    f"enqueue() takes Reply, Fail, FailMidStream, Delay or Batch, not {step!r}"
                )
        with self._lock:
            for step in steps:
                if isinstance(step, Batch):
                    self._batch_queue.append(step)
                else:
                    self._queue.append(step)

    def reset(self) -> None:
        """Forget the queues, the records, the counter, the prompt cache and the batches."""
        with self._lock:
            self._queue.clear()
            self._batch_queue.clear()
            self._records.clear()
            self._count = 0
        self.cache.clear()
        self.batches.clear()

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request received so far, oldest first."""
        with self._lock:
            return tuple(self._records)

    @property
    def pending(self) -> tuple[Step, ...]:
        """The steps not yet used: Messages steps, then batch steps."""
        with self._lock:
            return (*self._queue, *self._batch_queue)

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

    def _take_batch(self) -> tuple[int, Batch | None]:
        with self._lock:
            self._count += 1
            return self._count, self._batch_queue.popleft() if self._batch_queue else None

    def _next_number(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def _record(
        self,
        request: Request,
        body: object,
        where: Route | None,
        *,
        status: int,
        request_id: str,
        step: Answer | Batch | None = None,
        delay_s: float = 0.0,
        stream: bool = False,
    ) -> None:
        headers = {
            name: request.headers[name] for name in _RECORDED_HEADERS if name in request.headers
        }
        model = where.model if where is not None else None
        if model is None and isinstance(body, dict) and isinstance(body.get("model"), str):
            model = body["model"]
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
            query=request.url.query,
            provider=where.provider if where is not None else "anthropic",
            model=model,
        )
        with self._lock:
            self._records.append(record)

    def _request_id(self, number: object, provider: Provider = "anthropic") -> str:
        if provider == "bedrock":
            return make_uuid(self.seed, "req", number)
        return make_id("req_011C", self.seed, "req", number, length=20)

    def _reject(self, request: Request, body: object, where: Route | None, fail: Fail) -> Response:
        provider = where.provider if where is not None else "anthropic"
        request_id = self._request_id(self._next_number(), provider)
        self._record(request, body, where, status=fail.status, request_id=request_id)
        return error_response(provider, fail, request_id)

    def _ok(self, request: Request, body: object, where: Route, content: object) -> Response:
        request_id = self._request_id(self._next_number())
        self._record(request, body, where, status=200, request_id=request_id)
        return JSONResponse(content, headers={"request-id": request_id})

    async def _dispatch(self, request: Request) -> Response:
        raw = await request.body()
        body: object = None
        parse_error: str | None = None
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as error:
            parse_error = f"There was an error parsing the body: {error}"
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        where = route(raw_path.decode("latin-1"))
        if where is None:
            return self._reject(request, body, None, Fail(status=404, message="Not Found"))
        if not where.allows(request.method):
            fail = Fail(
                status=405, error_type="invalid_request_error", message="Method Not Allowed"
            )
            return self._reject(request, body, where, fail)
        if where.endpoint in ("messages", "count_tokens"):
            if parse_error is not None:
                return self._reject(request, body, where, Fail(status=400, message=parse_error))
            try:
                valid = _validate(body, where)
                if where.endpoint == "count_tokens":
                    tokens = estimate_input_tokens(valid)
            except (_InvalidRequestError, PromptError) as invalid:
                return self._reject(request, body, where, Fail(status=400, message=str(invalid)))
            if where.endpoint == "count_tokens":
                return self._ok(request, body, where, {"input_tokens": tokens})
            return await self._messages(request, body, where, valid)
        try:
            return self._batch_endpoint(request, body, where)
        except BatchError as error:
            fail = Fail(status=error.status, message=str(error))
            return self._reject(request, body, where, fail)

    async def _messages(
        self, request: Request, received: object, where: Route, body: dict[str, object]
    ) -> Response:
        number, step, delay = self._take()
        request_id = self._request_id(number, where.provider)
        stream = body.get("stream") is True if where.stream is None else where.stream
        response = self._answer(
            number, step, body, request_id=request_id, stream=stream, provider=where.provider
        )
        self._record(
            request,
            received,
            where,
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
        *,
        request_id: str,
        stream: bool,
        provider: Provider,
    ) -> Response:
        if isinstance(step, Fail):
            return error_response(provider, step, request_id)
        if isinstance(step, FailMidStream) and not stream:
            return error_response(provider, step.as_fail(), request_id)
        reply = step if isinstance(step, Reply) else Reply()
        if isinstance(step, FailMidStream):
            reply = Reply(text=step.text)
        try:
            message = self._message(number, reply, body)
        except PromptError as error:
            return error_response(provider, Fail(status=400, message=str(error)), request_id)
        if not stream:
            return message_response(provider, message, request_id)
        if isinstance(step, FailMidStream):
            events = broken_stream_events(message, step.after_deltas)
            return stream_response(provider, events, request_id, step.as_fail())
        stop = invocation_metrics(message) if provider == "bedrock" else None
        return stream_response(provider, stream_events(message, stop=stop), request_id)

    def _message(
        self,
        key: object,
        reply: Reply,
        body: dict[str, object],
        service_tier: ServiceTier = "standard",
    ) -> Message:
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
            tool_id = tool.id or make_id("toolu_01", self.seed, "toolu", key)
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
            speed=reply.speed or _requested(body, "speed", ("standard", "fast")),
            inference_geo=reply.inference_geo or _requested(body, "inference_geo"),
        )
        return Message(
            id=make_id("msg_01", self.seed, "msg", key),
            model=reply.model or self._answer_model(model),
            content=tuple(content),
            stop_reason=stop_reason,
            stop_sequence=reply.stop_sequence,
            usage=usage,
        )

    # Message Batches

    def _batch_endpoint(self, request: Request, body: object, where: Route) -> Response:
        batch_id = where.batch_id or ""
        if where.endpoint == "batches" and request.method == "POST":
            return self._create_batch(request, body, where)
        if where.endpoint == "batches":
            query = request.query_params
            try:
                limit = int(query.get("limit", "20"))
            except ValueError:
                raise BatchError("limit: Input should be a valid integer") from None
            chosen, has_more = self.batches.page(
                limit=limit, after_id=query.get("after_id"), before_id=query.get("before_id")
            )
            page = {
                "data": [self._batch_json(request, where, batch) for batch in chosen],
                "has_more": has_more,
                "first_id": chosen[0].id if chosen else None,
                "last_id": chosen[-1].id if chosen else None,
            }
            return self._ok(request, body, where, page)
        if where.endpoint == "batch" and request.method == "DELETE":
            self.batches.delete(batch_id)
            return self._ok(request, body, where, {"id": batch_id, "type": "message_batch_deleted"})
        if where.endpoint == "batch":
            stored = self.batches.retrieve(batch_id)
        elif where.endpoint == "batch_cancel":
            stored = self.batches.cancel(batch_id)
        else:
            stored = self.batches.get(batch_id)
            if stored.ended_at is None:
                raise BatchError(f"Batch {batch_id!r} has not ended; its results are not ready")
            request_id = self._request_id(self._next_number())
            self._record(request, body, where, status=200, request_id=request_id)
            headers = {"request-id": request_id}
            return Response(stored.jsonl(), media_type="application/binary", headers=headers)
        return self._ok(request, body, where, self._batch_json(request, where, stored))

    def _batch_json(self, request: Request, where: Route, stored: StoredBatch) -> object:
        base = str(request.base_url).rstrip("/")
        return stored.as_json(f"{base}{where.prefix}/v1/messages/batches/{stored.id}/results")

    def _create_batch(self, request: Request, body: object, where: Route) -> Response:
        requests = parse_requests(body)
        number, script = self._take_batch()
        batch_id = make_id("msgbatch_01", self.seed, "batch", number)
        results: list[dict[str, object]] = []
        for custom_id, params in requests:
            outcome: Answer | BatchOutcome | None = None
            if script is not None:
                outcome = script.outcomes.get(custom_id, script.default)
            key = f"{batch_id}:{custom_id}"
            results.append(
                {"custom_id": custom_id, "result": self._batch_result(key, params, outcome)}
            )
        stored = self.batches.add(batch_id, results, script)
        request_id = self._request_id(number)
        self._record(request, body, where, step=script, status=200, request_id=request_id)
        content = self._batch_json(request, where, stored)
        return JSONResponse(content, headers={"request-id": request_id})

    def _batch_result(
        self, key: str, params: object, outcome: Answer | BatchOutcome | None
    ) -> dict[str, object]:
        if isinstance(outcome, str):
            return {"type": outcome}
        request_id = self._request_id(key)
        fail: Fail | None = None
        if isinstance(outcome, Fail):
            fail = outcome
        elif isinstance(outcome, FailMidStream):
            fail = outcome.as_fail()
        else:
            reply = outcome if isinstance(outcome, Reply) else Reply()
            messages_route = Route(endpoint="messages", provider="anthropic", prefix="")
            try:
                valid = _validate(params, messages_route)
                message = self._message(key, reply, valid, service_tier="batch")
            except (_InvalidRequestError, PromptError) as invalid:
                fail = Fail(status=400, message=str(invalid))
            else:
                return {"type": "succeeded", "message": message.as_json()}
        error = error_json(fail.resolved_type, fail.resolved_message, request_id, fail.error_code)
        return {"type": "errored", "error": error}
