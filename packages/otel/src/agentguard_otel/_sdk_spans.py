"""Which LLM calls the anthropic SDK already gave a call span: :class:`SDKCallSpans`.

A span processor on the tracer provider notes every ``anthropic.messages.create`` span of the
SDK (scope ``com.anthropic.sdk.python``, its platform clients' scopes below it) and the
``anthropic.request.id`` it carries; :meth:`SDKCallSpans.claim` answers, for an
``LLMCallFinished``, whether such a span covers that call. It works whichever ends first, the
SDK's span or agentguard's event (an abandoned stream publishes before the SDK ends its span).
Calls without a request id (no response: a connection error) are matched by the span that was
current when the call was made. Needs an SDK ``TracerProvider`` (``add_span_processor``); see
docs/architecture.md, "OpenTelemetry without code", for why this and not the SDK's settings.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.context import Context

__all__ = ["CALL_SPAN", "REQUEST_ID", "SCOPE", "SDKCallSpans", "call_spans_of"]

SCOPE: Final = "com.anthropic.sdk.python"
"""The instrumentation scope of the SDK's spans (``.bedrock``, ``.vertex``, ... for platforms)."""
CALL_SPAN: Final = "anthropic.messages.create"
"""The SDK's span name for ``messages.create`` and ``beta.messages.create``, streams included."""
REQUEST_ID: Final = "anthropic.request.id"
"""The attribute the SDK sets from the response's ``request-id`` header."""

_KEPT: Final = 4096
"""Request ids of unclaimed SDK spans kept (spans of clients agentguard does not measure)."""

_WATCHERS: weakref.WeakKeyDictionary[Any, SDKCallSpans] = weakref.WeakKeyDictionary()
_WATCHERS_LOCK = threading.Lock()


def _is_call_span(span: Any) -> bool:
    """Whether ``span`` is an SDK call span; any other span, of any provider, is left alone."""
    if getattr(span, "name", None) != CALL_SPAN:
        return False
    scope = getattr(span, "instrumentation_scope", None)
    return scope is not None and str(getattr(scope, "name", "")).startswith(SCOPE)


def _key(span: Any) -> int:
    """The span's id: ``on_end`` gets another object than ``on_start`` (a ReadableSpan)."""
    context = getattr(span, "context", None)
    return int(getattr(context, "span_id", 0)) or id(span)


def _parent_id(context: Context | None) -> int:
    return trace.get_current_span(context).get_span_context().span_id


class SDKCallSpans:
    """The SDK's call spans on one tracer provider, to be claimed by agentguard's events.

    A span processor (duck-typed to the SDK's ``SpanProcessor``, so this module needs only
    the API). Thread-safe; bounded to the last 4,096 unclaimed spans.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, Any] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._without_id: OrderedDict[int, int] = OrderedDict()
        self._parents: dict[int, int] = {}
        self._claimed: set[int] = set()

    # SpanProcessor
    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        """Note an SDK call span as it starts (with the span it is a child of)."""
        if _is_call_span(span):
            with self._lock:
                if len(self._open) >= _KEPT:  # spans never ended: forget the oldest
                    oldest = next(iter(self._open))
                    del self._open[oldest]
                    self._parents.pop(oldest, None)
                    self._claimed.discard(oldest)
                key = _key(span)
                self._open[key] = span
                self._parents[key] = _parent_id(parent_context)

    def _on_ending(self, span: Any) -> None:
        """The SDK's span processors are called here before a span ends; nothing to do."""

    def on_end(self, span: Any) -> None:
        """Keep the request id of an SDK call span that ended, until an event claims it."""
        if not _is_call_span(span):
            return
        request_id = (getattr(span, "attributes", None) or {}).get(REQUEST_ID)
        with self._lock:
            key = _key(span)
            self._open.pop(key, None)
            parent = self._parents.pop(key, 0)
            if key in self._claimed:  # claimed while in flight
                self._claimed.discard(key)
                return
            if isinstance(request_id, str):
                self._ended[request_id] = None
                if len(self._ended) > _KEPT:
                    self._ended.popitem(last=False)
            else:
                self._without_id[parent] = self._without_id.get(parent, 0) + 1
                if len(self._without_id) > _KEPT:
                    self._without_id.popitem(last=False)

    def shutdown(self) -> None:
        """Nothing to flush."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing to flush."""
        return True

    # agentguard
    def claim(self, request_id: str | None) -> bool:
        """Whether an SDK call span covers the call with ``request_id``; claim it if so.

        Without a request id, an ended SDK span without one, started under the span that is
        current now, is claimed (the call failed before any response).
        """
        with self._lock:
            if request_id is None:
                parent = _parent_id(None)
                left = self._without_id.get(parent, 0)
                if not left:
                    return False
                if left == 1:
                    del self._without_id[parent]
                else:
                    self._without_id[parent] = left - 1
                return True
            if request_id in self._ended:
                del self._ended[request_id]
                return True
            for key, span in self._open.items():  # in flight: a stream abandoned, say
                attributes = getattr(span, "attributes", None) or {}
                if key not in self._claimed and attributes.get(REQUEST_ID) == request_id:
                    self._claimed.add(key)
                    return True
            return False


def call_spans_of(provider: object) -> SDKCallSpans | None:
    """The :class:`SDKCallSpans` watching ``provider``, added on first use; ``None`` if it can't.

    ``provider`` is resolved to the global provider when it is ``None``. A provider without
    ``add_span_processor`` (the API's proxy before the SDK is configured, a no-op one) has no
    SDK spans to watch: ``None``, and the caller asks again later.
    """
    if provider is None:
        provider = trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return None
    with _WATCHERS_LOCK:
        watcher = _WATCHERS.get(provider)
        if watcher is None:
            watcher = _WATCHERS[provider] = SDKCallSpans()
            add(watcher)
    return watcher
