"""``instrument(client)``: one ``LLMCallFinished`` for every billed call of an Anthropic client.

The client gets a subclass of its own class overriding ``request`` (the one method every
resource and platform client sends through, holding the SDK's retry loop) and
``_sleep_for_retry`` (once per retry): one place sees each whole call, and the caller gets
exactly the object the SDK returns and the exception it raises. Every client derived from an
instrumented one (``with_options``, ``copy``, ``with_raw_response``, ...) is instrumented too.
Bodies are watched as they are read (``_body``, ``_batches``); unbilled requests (``count_tokens``,
models, files) pass with one string comparison. Why not the SDK's middleware:
docs/architecture.md, "The tracer" (and DESIGN.md section 9).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeAlias, TypeVar

import httpx2
from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient
from anthropic._response import BaseAPIResponse
from anthropic._streaming import AsyncStream, Stream

from agentguard import Bus, default_bus
from agentguard_trace._batches import read_results
from agentguard_trace._body import watch_body
from agentguard_trace._calls import CURRENT_CALL, LLMCall
from agentguard_trace._errors import error_kind
from agentguard_trace._ledger import CURRENT_LEDGER
from agentguard_trace.pricing import PriceTable

__all__ = ["instrument", "instrument_all", "uninstrument_all"]

_Client = TypeVar("_Client", bound=BaseClient[Any, Any])

_MARK: Final = "_agentguard_tracer"
_MESSAGES: Final = frozenset({"/v1/messages", "/v1/messages?beta=true"})
_RESULTS: Final = re.compile(r"/messages/batches/([^/?]+)/results")

# The platform each client class serves, by the name of the SDK class it derives from. Names,
# not classes: the oldest supported SDK lacks some of them.
_PROVIDERS: Final = {
    "AnthropicBedrock": "bedrock",
    "AsyncAnthropicBedrock": "bedrock",
    "AnthropicBedrockMantle": "bedrock",
    "AsyncAnthropicBedrockMantle": "bedrock",
    "AnthropicVertex": "vertex",
    "AsyncAnthropicVertex": "vertex",
    "AnthropicFoundry": "foundry",
    "AsyncAnthropicFoundry": "foundry",
    "AnthropicAWS": "aws",
    "AsyncAnthropicAWS": "aws",
    "AnthropicGoogleCloud": "google_cloud",
    "AsyncAnthropicGoogleCloud": "google_cloud",
}

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


def _provider(cls: type) -> str:
    for base in cls.__mro__:
        provider = _PROVIDERS.get(base.__name__)
        if provider is not None and base.__module__.startswith("anthropic"):
            return provider
    return "anthropic"


class _Tracer:
    """The settings of one ``instrument()``: where events go, the prices, the platform."""

    __slots__ = ("bus", "prices", "provider")

    def __init__(self, bus: Bus, prices: PriceTable, provider: str) -> None:
        self.bus = bus
        self.prices = prices
        self.provider = provider

    def start(self, options: Any, *, streamed: bool) -> LLMCall:
        """A call begins; raises ``BudgetExceededError`` instead when a budget stops calls."""
        ledger = CURRENT_LEDGER.get()
        if ledger is not None:
            ledger.check()
        body = options.json_data
        model = body.get("model") if isinstance(body, Mapping) else None
        return LLMCall(
            model=model if isinstance(model, str) else None,
            streamed=streamed,
            bus=self.bus,
            prices=self.prices,
            ledger=ledger,
            provider=self.provider,
        )

    def failed(self, call: LLMCall, exc: BaseException) -> None:
        request_id = getattr(exc, "request_id", None)
        if isinstance(request_id, str):
            call.request_id = request_id
        call.finish(ok=False, error_kind=error_kind(exc))

    def returned(self, call: LLMCall, result: object) -> None:
        """The SDK returned ``result``: a message ends the call, a body ends it when read."""
        # isinstance on the SDK's concrete classes: a getattr that misses on a pydantic
        # message raises inside pydantic, several microseconds of P4.
        if isinstance(result, BaseAPIResponse):  # a raw response (any mode)
            http = result.http_response
        elif call.streamed and isinstance(result, (Stream, AsyncStream)):
            http = result.response
        else:
            http = None
        if not isinstance(http, httpx2.Response):
            call.read_message(result)
            call.finish(ok=True)
            return
        request_id = http.headers.get("request-id")
        if request_id:
            call.request_id = request_id
        if not call.streamed and http.is_stream_consumed:
            # with_raw_response: the body is read, the message not parsed yet.
            call.read_message(json.loads(http.content))
            call.finish(ok=True)
        else:
            watch_body(http, call)

    def results(self, batch_id: str, result: object) -> None:
        """A Message Batches results body: its lines are read as the caller reads them."""
        http = getattr(result, "http_response", None)
        if isinstance(http, httpx2.Response):
            read_results(http, batch_id, self)

    def batch_call(self) -> LLMCall:
        """A call made for one result of a Message Batch (its model comes with the result)."""
        return LLMCall(
            model=None,
            streamed=False,
            bus=self.bus,
            prices=self.prices,
            ledger=None,
            provider=self.provider,
        )


def _route(options: Any) -> str | None:
    """``"call"`` for a billed Messages call, a batch id for batch results, else ``None``."""
    url = options.url
    if url in _MESSAGES:
        return "call" if options.method == "post" else None
    if "/results" in url and options.method == "get":
        found = _RESULTS.search(url)
        if found is not None:
            return found.group(1)
    return None


TracerOf: TypeAlias = Callable[[Any], "_Tracer | None"]
"""Who measures a client's call: its ``instrument()`` tracer, the process-wide one, or none."""


def _sync_methods(parent_request: Any, parent_sleep: Any, tracer_of: TracerOf) -> dict[str, Any]:
    """``request`` and ``_sleep_for_retry`` of a sync client, measuring through ``tracer_of``."""

    def request(self: Any, cast_to: Any, options: Any, *, stream: bool = False, **rest: Any) -> Any:
        route = _route(options)
        tracer = None if route is None else tracer_of(self)
        if route is None or tracer is None:
            return parent_request(self, cast_to, options, stream=stream, **rest)
        if route != "call":
            result = parent_request(self, cast_to, options, stream=stream, **rest)
            tracer.results(route, result)
            return result
        call = tracer.start(options, streamed=stream)
        token = CURRENT_CALL.set(call)
        try:
            result = parent_request(self, cast_to, options, stream=stream, **rest)
        except BaseException as exc:
            tracer.failed(call, exc)
            raise
        finally:
            CURRENT_CALL.reset(token)
        tracer.returned(call, result)
        return result

    def _sleep_for_retry(self: Any, **kwargs: Any) -> None:
        call = CURRENT_CALL.get()
        if call is not None and tracer_of(self) is not None:
            call.retries += 1
        parent_sleep(self, **kwargs)

    return {"request": request, "_sleep_for_retry": _sleep_for_retry}


def _async_methods(parent_request: Any, parent_sleep: Any, tracer_of: TracerOf) -> dict[str, Any]:
    """``request`` and ``_sleep_for_retry`` of an async client, measuring through ``tracer_of``."""

    async def request(
        self: Any, cast_to: Any, options: Any, *, stream: bool = False, **rest: Any
    ) -> Any:
        route = _route(options)
        tracer = None if route is None else tracer_of(self)
        if route is None or tracer is None:
            return await parent_request(self, cast_to, options, stream=stream, **rest)
        if route != "call":
            result = await parent_request(self, cast_to, options, stream=stream, **rest)
            tracer.results(route, result)
            return result
        call = tracer.start(options, streamed=stream)
        token = CURRENT_CALL.set(call)
        try:
            result = await parent_request(self, cast_to, options, stream=stream, **rest)
        except BaseException as exc:
            tracer.failed(call, exc)
            raise
        finally:
            CURRENT_CALL.reset(token)
        tracer.returned(call, result)
        return result

    async def _sleep_for_retry(self: Any, **kwargs: Any) -> None:
        call = CURRENT_CALL.get()
        if call is not None and tracer_of(self) is not None:
            call.retries += 1
        await parent_sleep(self, **kwargs)

    return {"request": request, "_sleep_for_retry": _sleep_for_retry}


def _subclass(cls: type, tracer: _Tracer, **methods: Any) -> type:
    """``cls`` with ``methods``, under the same name, carrying ``tracer`` for its copies."""
    namespace: dict[str, Any] = {
        **methods,
        _MARK: tracer,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    return type(cls.__name__, (cls,), namespace)


def instrument(
    client: _Client,
    *,
    bus: Bus | None = None,
    prices: PriceTable | Mapping[str, Any] | str | Path | None = None,
) -> _Client:
    """Instrument ``client`` so that each billed call publishes one ``LLMCallFinished``.

    Takes every client class of the anthropic SDK, sync and async: ``Anthropic``,
    ``AnthropicBedrock``, ``AnthropicVertex``, ``AnthropicFoundry`` and the others the
    installed SDK has. Covers ``messages`` and ``beta.messages`` (``create``, plain and
    ``stream=True``, ``stream``, ``parse``, ``tool_runner``: one event per request), raw and
    streaming responses, failed calls, streams that fail midway or are abandoned, and
    Message Batches results (one event per request of the batch, at batch prices, once per
    process however often the results are read). ``count_tokens`` and the other endpoints
    pass through unmeasured. Every client derived from it (``with_options``, ``copy``,
    ``with_middleware``) is instrumented too; instrumenting again changes nothing.

    Returns:
        ``client`` itself, instrumented in place: its class becomes a subclass of the same
        name that measures (``isinstance`` checks still hold).

    Args:
        client: The client to instrument.
        bus: Where events go; the default bus by default.
        prices: A :class:`PriceTable`, or overrides for one (a mapping or a TOML/JSON file);
            the bundled ``genai-prices`` data by default.

    Raises:
        TypeError: ``client`` is not a client of the anthropic SDK.
    """
    cls: type[Any] = type(client)
    if getattr(cls, _MARK, None) is not None:
        return client
    if isinstance(client, SyncAPIClient):
        methods = _sync_methods
    elif isinstance(client, AsyncAPIClient):
        methods = _async_methods
    else:
        raise TypeError(
            "instrument() takes a client of the anthropic SDK (anthropic.Anthropic, "
            "AsyncAnthropic, AnthropicBedrock, AnthropicVertex, AnthropicFoundry or their "
            f"async twins), got {cls.__qualname__}"
        )
    tracer = _Tracer(bus or default_bus, _prices(prices), _provider(cls))
    client.__class__ = _subclass(
        cls, tracer, **methods(cls.request, cls._sleep_for_retry, lambda _: tracer)
    )
    return client


class _Everywhere:
    """The process-wide switch: the SDK's two client base classes, patched once, reversibly."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: tuple[Bus, PriceTable] | None = None
        self.tracers: dict[type, _Tracer] = {}
        self.originals: dict[tuple[type, str], Any] = {}

    def tracer_of(self, client: Any) -> _Tracer | None:
        """The process-wide tracer of ``client``'s class; ``None`` when off or instrumented."""
        cls = type(client)
        tracer = self.tracers.get(cls)
        if tracer is not None:
            return tracer
        settings = self.settings
        if settings is None or getattr(cls, _MARK, None) is not None:
            return None  # off, or measured by its own instrument()
        tracer = self.tracers[cls] = _Tracer(settings[0], settings[1], _provider(cls))
        return tracer

    def on(self, bus: Bus, prices: PriceTable) -> None:
        with self.lock:
            if self.settings is not None:
                return
            self.settings = (bus, prices)
            self.tracers.clear()
            for base, methods in ((SyncAPIClient, _sync_methods), (AsyncAPIClient, _async_methods)):
                request, sleep = base.request, base._sleep_for_retry
                self.originals[base, "request"] = request
                self.originals[base, "_sleep_for_retry"] = sleep
                for name, method in methods(request, sleep, self.tracer_of).items():
                    setattr(base, name, method)

    def off(self) -> None:
        with self.lock:
            if self.settings is None:
                return
            for (base, name), original in self.originals.items():
                setattr(base, name, original)
            self.originals.clear()
            self.settings = None
            self.tracers.clear()


_EVERYWHERE = _Everywhere()


def instrument_all(
    *,
    bus: Bus | None = None,
    prices: PriceTable | Mapping[str, Any] | str | Path | None = None,
) -> None:
    """Measure every anthropic client of the process, as :func:`instrument` measures one.

    Covers the clients made before the call and after it, of every class (first-party,
    Bedrock, Vertex, Foundry, ..., sync and async), including those a framework creates
    inside and never hands you (pydantic-ai's Anthropic model, LangChain's ``ChatAnthropic``).
    It patches the two base classes every client derives from, ``SyncAPIClient`` and
    ``AsyncAPIClient`` of ``anthropic._base_client`` (their ``request`` and
    ``_sleep_for_retry``), once and reversibly: the SDK has no process-wide hook (its
    middleware is per client), and that one method is the funnel of every request.

    A client also passed to :func:`instrument` is measured once, by its own settings. Calling
    this again while it is on changes nothing (not even ``bus`` or ``prices``); call
    :func:`uninstrument_all` first to change them.

    Args:
        bus: Where events go; the default bus by default.
        prices: A :class:`PriceTable`, or overrides for one; the bundled data by default.
    """
    _EVERYWHERE.on(bus or default_bus, _prices(prices))


def uninstrument_all() -> None:
    """Undo :func:`instrument_all`: the SDK's classes as they were.

    Clients passed to :func:`instrument` stay measured. Harmless when it is off.
    """
    _EVERYWHERE.off()
