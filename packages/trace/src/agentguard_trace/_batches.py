"""Message Batches results: one ``LLMCallFinished`` per request of a batch, once per process.

The instrumented client watches the JSON Lines body of ``messages.batches.results(id)`` (and
the beta twin) as the caller reads it. ``succeeded`` is a call with the message's model, usage
and stop reason, ``service_tier="batch"`` (genai-prices' ``processing=batch`` rates),
``batch_id`` and ``custom_id``; ``errored`` (its kind), ``expired`` (``timeout``) and
``canceled`` (``cancelled``) are failed calls that cost nothing. The trap: published lines are
remembered by ``custom_id`` for the last :data:`REMEMBERED_BATCHES` batches of *this* process;
another process reading the same batch counts it again, so read a batch's results in one place.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from agentguard_trace._body import watch
from agentguard_trace._errors import api_error_kind

if TYPE_CHECKING:
    import httpx2

    from agentguard_trace._instrument import _Tracer

REMEMBERED_BATCHES: Final = 1024
"""How many batches' published ``custom_id``s a process remembers (least recently read go)."""

_FAILED_KINDS: Final = {"expired": "timeout", "canceled": "cancelled"}

_seen: OrderedDict[str, set[str]] = OrderedDict()
_seen_lock = threading.Lock()


def _first_time(batch_id: str, custom_id: str) -> bool:
    """Whether ``custom_id`` of ``batch_id`` is new to this process (and remember it)."""
    with _seen_lock:
        published = _seen.get(batch_id)
        if published is None:
            published = _seen[batch_id] = set()
            if len(_seen) > REMEMBERED_BATCHES:
                _seen.popitem(last=False)
        else:
            _seen.move_to_end(batch_id)
        if custom_id in published:
            return False
        published.add(custom_id)
        return True


class _ResultLines:
    """Reads a results body line by line as it goes by; publishes each new result."""

    __slots__ = ("_batch_id", "_buffer", "_tracer")

    def __init__(self, batch_id: str, tracer: _Tracer) -> None:
        self._batch_id = batch_id
        self._tracer = tracer
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._line(line)

    def end(self, error: BaseException | None = None) -> None:
        if error is None and self._buffer:
            self._line(self._buffer)
        self._buffer = b""

    def _line(self, line: bytes) -> None:
        try:
            if line.strip():
                self._result(json.loads(line))
        except Exception:  # noqa: BLE001, S110 (the caller's decoder reports bad lines; we never raise into it)
            pass

    def _result(self, line: dict[str, Any]) -> None:
        custom_id = line.get("custom_id")
        result = line.get("result") or {}
        if not isinstance(custom_id, str) or not _first_time(self._batch_id, custom_id):
            return
        call = self._tracer.batch_call()
        call.batch_id, call.custom_id = self._batch_id, custom_id
        outcome = result.get("type")
        if outcome == "succeeded":
            call.read_message(result.get("message") or {})
            call.usage.service_tier = "batch"
            call.finish(ok=True)
            return
        call.usage.service_tier = "batch"
        if outcome == "errored":
            error = (result.get("error") or {}).get("error") or {}
            kind = api_error_kind(error)
        else:
            kind = _FAILED_KINDS.get(str(outcome), "unknown")
        call.finish(ok=False, error_kind=kind)


def read_results(response: httpx2.Response, batch_id: str, tracer: _Tracer) -> None:
    """Publish the results in ``response``'s body as the caller reads it."""
    watch(response, _ResultLines(batch_id, tracer))
