"""``instrument(client)``: one ``LLMCallFinished`` for every Messages call of an Anthropic client.

How it watches, and why this way (DESIGN.md section 9):

- The client's ``messages.create`` and ``messages.stream`` are wrapped on the client's own
  ``Messages`` resource, so each call has a start and, when it raises, an end. The caller gets
  exactly the object the SDK returns and exactly the exception it raises.
- Each HTTP attempt of the call (the SDK retries inside the call) is seen by a request and a
  response event hook on the SDK's own ``httpx2`` client: they count the attempts
  (``retries``), keep the last ``request-id``, and put a watcher on the body of a streamed
  response (see ``_body``), which reads usage and the time to first token from the
  server-sent events as the caller reads them, however it reads them, and ends the call when
  the body ends. The hooks do nothing for requests made outside an instrumented call, so a
  ``httpx2`` client shared with other code is not disturbed.
- The SDK's middleware (``with_middleware``) would see the same attempts, and is used when the
  client has no ``httpx2`` client to hook; but the SDK's middleware path costs about 20 us per
  call by itself (``python -m bench trace`` measures it), nearly all of DESIGN.md's 25 us
  budget (P4), where the hooks cost about 1 us.
- The SDK's own OpenTelemetry call spans (``anthropic`` 1.17 and newer) would give most of
  this too, but not on the 1.x releases we support, and reading them would take the
  ``open_telemetry`` option away from the user; so they are left alone for ``agentguard-otel``.

The client is instrumented in place and returned; instrumenting it again changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anthropic
import httpx2
from anthropic import Middleware

from agentguard import Bus, default_bus
from agentguard_trace._body import watch_body
from agentguard_trace._calls import CURRENT_CALL, LLMCall
from agentguard_trace._errors import error_kind
from agentguard_trace._ledger import CURRENT_LEDGER
from agentguard_trace.pricing import PriceTable

if TYPE_CHECKING:
    from anthropic._middleware import AsyncCallNext, CallNext
    from anthropic._request import APIRequest
    from anthropic._response import APIResponse, AsyncAPIResponse

__all__ = ["instrument"]

_logger = logging.getLogger("agentguard.trace")

_Client = TypeVar("_Client", anthropic.Anthropic, anthropic.AsyncAnthropic)

_MARK = "_agentguard_instrumented"
_SYNC_STREAM_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_STREAM_REQUEST = "_AsyncMessageStreamManager__api_request"

_default_prices: PriceTable | None = None


def _prices(prices: PriceTable | Mapping[str, Any] | str | Path | None) -> PriceTable:
    global _default_prices  # noqa: PLW0603 (one shared table, built on first use, not at import)
    if isinstance(prices, PriceTable):
        return prices
    if prices is not None:
        return PriceTable(prices)
    if _default_prices is None:
        _default_prices = PriceTable()
    return _default_prices


class _Attempts(Middleware):
    """Sees each HTTP attempt of an instrumented call (see the module docstring)."""

    def handle(self, request: APIRequest, call_next: CallNext) -> APIResponse[Any]:
        call = CURRENT_CALL.get()
        if call is None:
            return call_next(request)
        call.attempts += 1
        response = call_next(request)
        _saw(call, request, response)
        return response

    async def handle_async(
        self, request: APIRequest, call_next: AsyncCallNext
    ) -> AsyncAPIResponse[Any]:
        call = CURRENT_CALL.get()
        if call is None:
            return await call_next(request)
        call.attempts += 1
        response = await call_next(request)
        _saw(call, request, response)
        return response


def _saw(call: LLMCall, request: APIRequest, response: object) -> None:
    http = getattr(response, "http_response", None)
    if http is not None:
        _answered(call, http, streamed=request.stream)


def _answered(call: LLMCall, response: httpx2.Response, *, streamed: bool) -> None:
    """One attempt of ``call`` got ``response`` (its body not read yet)."""
    request_id = response.headers.get("request-id")
    if request_id:
        call.request_id = request_id
    if streamed and response.is_success and not call.watched:
        call.watched = True
        watch_body(response, call)


def _on_request(request: httpx2.Request) -> None:
    call = CURRENT_CALL.get()
    if call is not None:
        call.attempts += 1


def _on_response(response: httpx2.Response) -> None:
    call = CURRENT_CALL.get()
    # A returned message carries its request id; a stream or a failed attempt does not.
    if call is not None and (call.streamed or not response.is_success):
        _answered(call, response, streamed=call.streamed)


async def _on_request_async(request: httpx2.Request) -> None:
    _on_request(request)


async def _on_response_async(response: httpx2.Response) -> None:
    _on_response(response)


def _hook_attempts(client: anthropic.Anthropic | anthropic.AsyncAnthropic) -> bool:
    """Add the attempt hooks to the client's ``httpx2`` client, once; False if it has none."""
    http = getattr(client, "_client", None)
    if isinstance(http, httpx2.Client):
        on_request: Callable[..., Any] = _on_request
        on_response: Callable[..., Any] = _on_response
    elif isinstance(http, httpx2.AsyncClient):
        on_request, on_response = _on_request_async, _on_response_async
    else:
        return False
    hooks = http.event_hooks
    if on_request not in hooks["request"]:
        hooks["request"].append(on_request)
    if on_response not in hooks["response"]:
        hooks["response"].append(on_response)
    http.event_hooks = hooks
    return True


def _read_message(call: LLMCall, message: object) -> None:
    """Take usage, stop reason and request id from a returned ``Message`` (any shape)."""
    usage = getattr(message, "usage", None)
    if usage is not None:
        call.read_usage(usage)
    stop_reason = getattr(message, "stop_reason", None)
    if isinstance(stop_reason, str):
        call.stop_reason = stop_reason
    request_id = getattr(message, "_request_id", None)
    if isinstance(request_id, str):
        call.request_id = request_id


class _Calling:
    """The ``with`` block of one call: it is current inside, and an exception ends it.

    A plain class rather than ``contextlib.contextmanager``: it runs on every call (P4).
    """

    __slots__ = ("call", "token")

    def __init__(self, call: LLMCall) -> None:
        self.call = call

    def __enter__(self) -> LLMCall:
        self.token = CURRENT_CALL.set(self.call)
        return self.call

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        CURRENT_CALL.reset(self.token)
        if exc is not None:
            self.call.finish(ok=False, error_kind=error_kind(exc))


class _Tracer:
    """The settings of one instrumented client, and the wrappers that use them."""

    def __init__(self, bus: Bus, prices: PriceTable) -> None:
        self.bus = bus
        self.prices = prices

    def calling(self, kwargs: Mapping[str, Any], *, streamed: bool) -> _Calling:
        """Start a call; raises ``BudgetExceededError`` instead when a budget stops calls."""
        ledger = CURRENT_LEDGER.get()
        if ledger is not None:
            ledger.check()
        model = kwargs.get("model")
        return _Calling(
            LLMCall(
                model=model if isinstance(model, str) else "",
                streamed=streamed,
                bus=self.bus,
                prices=self.prices,
                ledger=ledger,
            )
        )

    def create(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def create(*args: Any, **kwargs: Any) -> Any:
            with self.calling(kwargs, streamed=kwargs.get("stream") is True) as call:
                result = original(*args, **kwargs)
            _returned(call, result)
            return result

        return create

    def create_async(self, original: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def create(*args: Any, **kwargs: Any) -> Any:
            with self.calling(kwargs, streamed=kwargs.get("stream") is True) as call:
                result = await original(*args, **kwargs)
            _returned(call, result)
            return result

        return create

    def stream(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def stream(*args: Any, **kwargs: Any) -> Any:
            manager = original(*args, **kwargs)
            api_request = getattr(manager, _SYNC_STREAM_REQUEST, None)
            if api_request is None:
                _unobserved(manager)
                return manager

            def observed_request() -> Any:
                with self.calling(kwargs, streamed=True) as call:
                    raw_stream = api_request()
                _returned(call, raw_stream)
                return raw_stream

            setattr(manager, _SYNC_STREAM_REQUEST, observed_request)
            return manager

        return stream

    def stream_async(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def stream(*args: Any, **kwargs: Any) -> Any:
            manager = original(*args, **kwargs)
            api_request = getattr(manager, _ASYNC_STREAM_REQUEST, None)
            if api_request is None:
                _unobserved(manager)
                return manager

            async def observed_request() -> Any:
                try:
                    calling = self.calling(kwargs, streamed=True)
                except BaseException:
                    api_request.close()  # the SDK's coroutine, never to be awaited now
                    raise
                with calling as call:
                    raw_stream = await api_request
                _returned(call, raw_stream)
                return raw_stream

            setattr(manager, _ASYNC_STREAM_REQUEST, observed_request())
            return manager

        return stream


def _returned(call: LLMCall, result: object) -> None:
    """The SDK returned ``result`` for ``call``: a message ends it, a stream ends later."""
    if not call.streamed:
        _read_message(call, result)
        call.finish(ok=True)
    elif not call.watched:
        # A middleware of the user's answered without a body we could watch.
        call.finish(ok=True)


_warned_unobserved = False


def _unobserved(manager: object) -> None:
    global _warned_unobserved  # noqa: PLW0603 (warn once per process)
    if not _warned_unobserved:
        _warned_unobserved = True
        _logger.warning(
            "this anthropic version's %s is not one agentguard knows how to observe; "
            "messages.stream() calls go unmeasured (messages.create(stream=True) works)",
            type(manager).__name__,
        )


def instrument(
    client: _Client,
    *,
    bus: Bus | None = None,
    prices: PriceTable | Mapping[str, Any] | str | Path | None = None,
) -> _Client:
    """Instrument ``client`` so that each of its Messages calls publishes one ``LLMCallFinished``.

    Covers ``messages.create`` (plain and ``stream=True``) and ``messages.stream(...)`` of
    ``anthropic.Anthropic`` and ``anthropic.AsyncAnthropic``, including failed calls, streams
    that fail midway and streams the caller abandons. Other resources pass through unmeasured.

    Returns:
        ``client`` itself, instrumented (or, for a client without an ``httpx2`` client to
        hook, an instrumented copy made with the SDK's ``with_middleware``).

    Args:
        client: The client to instrument.
        bus: Where events go; the default bus by default.
        prices: A :class:`PriceTable`, or overrides for one (a mapping or a TOML/JSON file);
            the bundled ``genai-prices`` data by default.

    Raises:
        TypeError: ``client`` is not an Anthropic client.
    """
    if not isinstance(client, (anthropic.Anthropic, anthropic.AsyncAnthropic)):
        raise TypeError(
            "instrument() takes an anthropic.Anthropic or anthropic.AsyncAnthropic client, "
            f"got {type(client).__qualname__}"
        )
    if getattr(client, _MARK, False):
        return client
    tracer = _Tracer(bus or default_bus, _prices(prices))
    instrumented = client if _hook_attempts(client) else client.with_middleware(_Attempts())
    messages = instrumented.messages
    if isinstance(instrumented, anthropic.AsyncAnthropic):
        messages.create = tracer.create_async(messages.create)  # type: ignore[method-assign]  # instance patch
        messages.stream = tracer.stream_async(messages.stream)  # type: ignore[method-assign]  # instance patch
    else:
        messages.create = tracer.create(messages.create)  # type: ignore[method-assign]  # instance patch
        messages.stream = tracer.stream(messages.stream)  # type: ignore[method-assign]  # instance patch
    setattr(instrumented, _MARK, True)
    return instrumented
