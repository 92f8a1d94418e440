"""Watching a streamed response body go by, to learn a stream's usage and how it ended.

The middleware wraps the byte stream of a successful streamed response before the SDK reads
it. The wrapper hands every chunk on unchanged and reads the server-sent events in passing:
``message_start`` (input and cache usage), the first ``content_block_delta`` (time to first
token), ``message_delta`` (output usage, stop reason), ``message_stop`` and ``error``. Working
on bytes makes it independent of how the caller reads the stream (``create(stream=True)``,
``messages.stream()``, raw responses) and of the SDK version.

How the body ends decides the event: read to the end after ``message_stop`` is a success;
an ``error`` event is a failure of the kind it names; closed or dropped before
``message_stop`` is an abandoned call (``cancelled``); a read that fails is classified.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx2

from agentguard_trace._calls import LLMCall
from agentguard_trace._errors import api_error_kind, error_kind

_WATCHED = frozenset({b"message_start", b"content_block_delta", b"message_delta", b"message_stop"})


class BodyWatcher:
    """Reads the server-sent events of one streamed body and finishes its call once."""

    __slots__ = ("_buffer", "_call", "_data", "_error_kind", "_event", "_stopped")

    def __init__(self, call: LLMCall) -> None:
        self._call = call
        self._buffer = b""
        self._event = b""
        self._data: list[bytes] = []
        self._stopped = False
        self._error_kind: str | None = None

    def feed(self, chunk: bytes) -> None:
        """Read the events completed by ``chunk``. Never raises."""
        try:
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for raw in lines:
                self._line(raw.rstrip(b"\r"))
        except Exception:  # noqa: BLE001 (a body we cannot read must still reach the caller)
            self._buffer = b""

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
        call = self._call
        if event == b"content_block_delta":
            call.first_token()
        elif event == b"message_start":
            message = json.loads(data).get("message") or {}
            call.read_usage(message.get("usage") or {})
            if isinstance(message.get("model"), str) and not call.model:
                call.model = message["model"]
        elif event == b"message_delta":
            body = json.loads(data)
            call.read_usage(body.get("usage") or {}, running=True)
            stop_reason = (body.get("delta") or {}).get("stop_reason")
            if isinstance(stop_reason, str):
                call.stop_reason = stop_reason
        elif event == b"message_stop":
            self._stopped = True
        elif event == b"error":
            error = json.loads(data).get("error") or {}
            self._error_kind = api_error_kind(error.get("type"))

    def end(self, error: BaseException | None = None) -> None:
        """The body ended: read, closed, dropped, or failed with ``error``. Never raises."""
        try:
            if self._buffer:
                self.feed(b"\n\n")
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


def watch_body(response: httpx2.Response, call: LLMCall) -> None:
    """Put a watcher on the body of ``response``."""
    response.stream = WatchedBody(response.stream, BodyWatcher(call))
