"""Watching a response body go by, to learn a call's usage and how it ended.

The instrumented client wraps the byte stream of a successful response the SDK has not read
yet (streams, ``with_streaming_response``) in :class:`WatchedBody`, which hands every chunk on
unchanged and reads it in passing in the body's own format: server-sent events, Bedrock's AWS
event-stream frames (botocore's reader), or a whole JSON message. Read to ``message_stop``
is a success; an ``error`` event a failure of its kind; closed or dropped before the end an
abandoned call (``cancelled``); a failed read is classified. The wrapper forwards what the SDK
reads from its own wrapper below (``elapsed``, ``stream_observer``: the SDK's call span).
Reasoning: docs/architecture.md, "The tracer".
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any, Final

import httpx2

from agentguard.errorkinds import ErrorKind
from agentguard_trace._calls import LLMCall
from agentguard_trace._errors import api_error_kind, error_kind

_WATCHED: Final = frozenset(
    {b"message_start", b"content_block_delta", b"message_delta", b"message_stop"}
)

# Bedrock's exception frames (``:exception-type``) and the core's ErrorKind each means.
_BEDROCK_EXCEPTIONS: Final = {
    "throttlingException": ErrorKind.RATE_LIMITED.value,
    "serviceUnavailableException": ErrorKind.OVERLOADED.value,
    "internalServerException": ErrorKind.SERVER_ERROR.value,
    "modelStreamErrorException": ErrorKind.SERVER_ERROR.value,
    "modelTimeoutException": ErrorKind.TIMEOUT.value,
    "validationException": ErrorKind.INVALID_REQUEST.value,
}


class BodyWatcher:
    """Reads one body's events and finishes its call once; subclasses know the format."""

    __slots__ = ("_call", "_error_kind", "_stopped")

    def __init__(self, call: LLMCall) -> None:
        self._call = call
        self._stopped = False
        self._error_kind: str | None = None

    def feed(self, chunk: bytes) -> None:
        """Read what ``chunk`` completes. Never raises."""
        with contextlib.suppress(Exception):  # a body we cannot read must still reach the caller
            self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        """Read what is left at the end of the body."""

    def event(self, kind: object, body: dict[str, Any]) -> None:
        """One decoded Messages stream event (``{"type": kind, ...}``)."""
        call = self._call
        if kind == "content_block_delta":
            call.first_token()
        elif kind == "message_start":
            message = body.get("message") or {}
            call.answered(message.get("model"))
            call.usage.read(message.get("usage") or {})
        elif kind == "message_delta":
            call.usage.read(body.get("usage") or {}, running=True)
            stop_reason = (body.get("delta") or {}).get("stop_reason")
            if isinstance(stop_reason, str):
                call.stop_reason = stop_reason
        elif kind == "message_stop":
            self._stopped = True
        elif kind == "error":
            self._error_kind = api_error_kind(body.get("error"))

    def end(self, error: BaseException | None = None) -> None:
        """The body ended: read, closed, dropped, or failed with ``error``. Never raises."""
        with contextlib.suppress(Exception):  # an unreadable tail is an abandoned call below
            self._flush()
        try:
            if self._error_kind is not None:
                self._call.finish(ok=False, error_kind=self._error_kind)
            elif error is not None:
                self._call.finish(ok=False, error_kind=error_kind(error))
            elif self._stopped:
                self._call.finish(ok=True)
            else:
                self._call.finish(ok=False, error_kind="cancelled")
        except Exception:  # noqa: BLE001, S110 (the bus logs its own failures; nothing may reach the reader)
            pass


class _ServerSentEvents(BodyWatcher):
    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self, call: LLMCall) -> None:
        super().__init__(call)
        self._buffer = b""
        self._event = b""
        self._data: list[bytes] = []

    def _feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self._line(raw.rstrip(b"\r"))

    def _flush(self) -> None:
        if self._buffer:
            self._feed(b"\n\n")

    def _line(self, line: bytes) -> None:
        if not line:
            if self._event:
                self._dispatch(self._event, b"\n".join(self._data))
            self._event, self._data = b"", []
        elif line.startswith(b"event:"):
            self._event = line[6:].strip()
        elif line.startswith(b"data:") and (self._event in _WATCHED or self._event == b"error"):
            self._data.append(line[5:].lstrip(b" "))

    def _dispatch(self, event: bytes, data: bytes) -> None:
        if event == b"content_block_delta":
            self._call.first_token()  # the one frequent event: no JSON to decode
        else:
            self.event(event.decode(), json.loads(data))


class _AWSEventStream(BodyWatcher):
    __slots__ = ("_frames",)

    def __init__(self, call: LLMCall) -> None:
        super().__init__(call)
        from botocore.eventstream import EventStreamBuffer  # Bedrock clients need botocore

        self._frames = EventStreamBuffer()

    def _feed(self, chunk: bytes) -> None:
        self._frames.add_data(chunk)
        for frame in self._frames:
            headers = frame.headers
            if headers.get(":message-type") == "exception":
                name = headers.get(":exception-type")
                self._error_kind = _BEDROCK_EXCEPTIONS.get(str(name), "unknown")
                continue
            raw = json.loads(frame.payload).get("bytes")
            if isinstance(raw, str):
                body = json.loads(base64.b64decode(raw))
                if isinstance(body, dict):
                    self.event(body.get("type"), body)


class _WholeMessage(BodyWatcher):
    __slots__ = ("_chunks",)

    def __init__(self, call: LLMCall) -> None:
        super().__init__(call)
        self._chunks: list[bytes] = []

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def _flush(self) -> None:
        message = json.loads(b"".join(self._chunks))
        self._chunks = []
        if isinstance(message, dict):
            self._call.read_message(message)
            self._stopped = True


class WatchedBody(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A response body that feeds a :class:`BodyWatcher`, read the way the body is.

    It offers both the sync and the async interface, as ``httpx2.ByteStream`` does; the
    client uses the one its body has.
    """

    def __init__(self, body: Any, watcher: BodyWatcher) -> None:
        self._body = body
        self._watcher = watcher

    @property
    def elapsed(self) -> timedelta | None:
        """The wrapped body's ``elapsed``, which ``httpx2.Response.elapsed`` reads from here."""
        return getattr(self._body, "elapsed", None)

    @property
    def stream_observer(self) -> object:
        """The wrapped body's: where the SDK's ``Stream`` reports events to its call span."""
        return getattr(self._body, "stream_observer", None)

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._body:
                self._watcher.feed(chunk)
                yield chunk
        except Exception as exc:
            self._watcher.end(exc)
            raise
        self._watcher.end()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                self._watcher.feed(chunk)
                yield chunk
        except GeneratorExit:
            self._watcher.end()
            raise
        except BaseException as exc:  # CancelledError too: the reading task was cancelled
            self._watcher.end(exc)
            raise
        self._watcher.end()

    def close(self) -> None:
        """Close the body; a body closed before its end is an abandoned call."""
        self._watcher.end()
        self._body.close()

    async def aclose(self) -> None:
        """Close the body; a body closed before its end is an abandoned call."""
        self._watcher.end()
        await self._body.aclose()

    def __del__(self) -> None:
        self._watcher.end()


def watch(response: httpx2.Response, watcher: Any) -> None:
    """Put ``watcher`` (with ``feed`` and ``end``) on the body of ``response``."""
    response.stream = WatchedBody(response.stream, watcher)


def watch_body(response: httpx2.Response, call: LLMCall) -> None:
    """Watch the body of ``response`` for ``call`` in the format its content type names."""
    content_type = response.headers.get("content-type", "")
    watcher: BodyWatcher
    if content_type.startswith("text/event-stream"):
        watcher = _ServerSentEvents(call)
    elif content_type.startswith("application/vnd.amazon.eventstream"):
        watcher = _AWSEventStream(call)
    else:
        watcher = _WholeMessage(call)
    call.watched = True
    watch(response, watcher)
