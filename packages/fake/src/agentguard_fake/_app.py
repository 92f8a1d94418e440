"""The ASGI app of the fake Messages API and the script state behind it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Final, TypeAlias

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as StarletteRoute

from agentguard_fake._batches import BatchError, BatchStore, StoredBatch, parse_requests
from agentguard_fake._prompt import PromptCache, PromptError, estimate_input_tokens
from agentguard_fake._script import (
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
from agentguard_fake._sessions import (
    ListPrice,
    ManagedSession,
    SessionRoute,
    SessionStore,
    StoredSession,
    session_route,
)
from agentguard_fake._shapes import (
    InvalidRequestError,
    Route,
    error_response,
    invocation_metrics,
    message_response,
    route,
    stream_response,
    validate,
)
from agentguard_fake._wire import (
    Message,
    broken_stream_events,
    error_json,
    make_id,
    make_uuid,
    reply_message,
    sse,
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
        list_price: ListPrice | None = None,
    ) -> None:
        self.seed = seed
        self.cache = PromptCache(clock=clock, min_cacheable_tokens=min_cacheable_tokens)
        self.batches = BatchStore(wall_clock=wall_clock)
        self.sessions = SessionStore(seed=seed, list_price=list_price)
        self._answer_model = _answering(answer_model)
        self._lock = threading.Lock()
        self._queue: deque[Answer | Delay] = deque()
        self._batch_queue: deque[Batch] = deque()
        self._records: list[RecordedRequest] = []
        self._count = 0
        self.app = Starlette(
            routes=[StarletteRoute("/{path:path}", self._dispatch, methods=_METHODS)]
        )

    def enqueue(self, *steps: Step | ManagedSession) -> None:
        """Append steps to the script, checking types.

        A :class:`Batch` goes to the batch queue, a :class:`ManagedSession` to the sessions'.
        """
        for step in steps:
            if not isinstance(step, (Reply, Fail, FailMidStream, Delay, Batch, ManagedSession)):
                raise TypeError(
                    "enqueue() takes Reply, Fail, FailMidStream, Delay, Batch or "
                    f"ManagedSession, not {step!r}"
                )
        with self._lock:
            for step in steps:
                if isinstance(step, ManagedSession):
                    self.sessions.enqueue(step)
                elif isinstance(step, Batch):
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
        self.sessions.clear()

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
        sessions = session_route(raw_path.decode("latin-1"))
        if sessions is not None:
            return self._sessions_endpoint(request, body, *sessions)
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
                valid = validate(body, where)
                if where.endpoint == "count_tokens":
                    tokens = estimate_input_tokens(valid)
            except (InvalidRequestError, PromptError) as invalid:
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
        return reply_message(
            reply,
            body,
            seed=self.seed,
            key=key,
            account=self.cache.account,
            answer_model=self._answer_model,
            service_tier=service_tier,
        )

    # Managed Agents sessions

    def _sessions_endpoint(
        self, request: Request, body: object, what: SessionRoute, session_id: str | None
    ) -> Response:
        method = request.method
        if what == "sessions" and method == "POST":
            stored = self.sessions.create()
            return self._session_ok(request, body, self.sessions.as_json(stored))
        allowed = "POST" if what == "sessions" else "GET"
        if method != allowed:
            fail = Fail(
                status=405, error_type="invalid_request_error", message="Method Not Allowed"
            )
            return self._reject(request, body, None, fail)
        found = self.sessions.get(session_id or "")
        if found is None:
            message = f"Session {session_id!r} not found" if session_id else "Not Found"
            return self._reject(request, body, None, Fail(status=404, message=message))
        if what == "session":
            return self._session_ok(request, body, self.sessions.as_json(found))
        if what == "events":
            try:
                limit = int(request.query_params.get("limit", "20"))
            except ValueError:
                fail = Fail(status=400, message="limit: Input should be a valid integer")
                return self._reject(request, body, None, fail)
            page = self.sessions.page(found, limit=limit, page=request.query_params.get("page"))
            return self._session_ok(request, body, page)
        return self._session_stream(request, body, found)

    def _session_ok(self, request: Request, body: object, content: object) -> Response:
        request_id = self._request_id(self._next_number())
        self._record(request, body, None, status=200, request_id=request_id)
        return JSONResponse(content, headers={"request-id": request_id})

    def _session_stream(self, request: Request, body: object, stored: StoredSession) -> Response:
        request_id = self._request_id(self._next_number())
        self._record(request, body, None, status=200, request_id=request_id, stream=True)
        events = self.sessions.stream(stored)

        async def chunks() -> AsyncIterator[bytes]:
            for event in events:
                yield sse(str(event["type"]), event)

        headers = {"request-id": request_id, "cache-control": "no-cache"}
        return StreamingResponse(chunks(), media_type="text/event-stream", headers=headers)

    def add_session(self, script: ManagedSession | None) -> str:
        """Add a session now and return its id."""
        return self.sessions.create(script).id

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
        url = f"{base}{where.prefix}/v1/messages/batches/{stored.id}/results"
        return self.batches.as_json(stored, url)

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
                valid = validate(params, messages_route)
                message = self._message(key, reply, valid, service_tier="batch")
            except (InvalidRequestError, PromptError) as invalid:
                fail = Fail(status=400, message=str(invalid))
            else:
                return {"type": "succeeded", "message": message.as_json()}
        error = error_json(fail.resolved_type, fail.resolved_message, request_id, fail.error_code)
        return {"type": "errored", "error": error}
