"""``GET /api/v1/stream``: one snapshot per tick, shared by every open stream.

A snapshot reads the whole store; computing one per client per second made 200 dashboards
cost 200 snapshots a second, starving ``/metrics`` and the snapshot route. The
:class:`StreamHub` computes one frame per tick on a single task while anyone listens (and
none while nobody does), and every stream sends that same text. A new client gets the
latest frame at once if it is at most one interval old, else the next one.

Each client address may hold ``max_per_client`` streams; one more answers 429
``TOO_MANY_STREAMS``. Streams end as soon as the server is asked to stop (:class:`Stopping`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

__all__ = ["Stopping", "StreamHub"]

logger = logging.getLogger("agentguard_service")


class Stopping:
    """Tells open streams that the server is shutting down; set from any thread.

    uvicorn waits for open responses before it stops, so an endless event stream would hold a
    shutdown until its grace period ran out: :meth:`stop` ends every stream at once.
    """

    def __init__(self) -> None:
        self.stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def stop(self) -> None:
        """End every stream (callable from any thread, and more than once)."""
        self.stopped = True
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``; whether the server is stopping."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._event is None:
            self._loop, self._event = loop, asyncio.Event()
        if self.stopped:
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except asyncio.TimeoutError:
            return self.stopped
        return True


class _Frame:
    __slots__ = ("made_s", "text")

    def __init__(self, text: str | None, made_s: float) -> None:
        self.text = text
        """The event's text; ``None`` ends every stream."""
        self.made_s = made_s


class _Stream(StreamingResponse):
    """An event stream that gives its client's place back however it ends."""

    def __init__(self, frames: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(
            frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Released here, not in the generator: a client gone before the first frame
        # cancels the response before the generator ever runs its ``finally``.
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


class StreamHub:
    """Computes one event per tick while streams are open and hands it to each of them.

    Args:
        compute: Makes one event's text (an ``event:`` and a ``data:`` line); blocking, so it
            runs on the thread pool; it must not raise (a failing store is an event too).
        interval_s: Seconds between two events.
        stopping: Ends every stream when set.
        max_per_client: Streams one client address may hold open.
        clock: Monotonic seconds, for the age of the latest event.
    """

    def __init__(
        self,
        compute: Callable[[], str],
        *,
        interval_s: float,
        stopping: Stopping,
        max_per_client: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._interval_s = interval_s
        self._stopping = stopping
        self._max_per_client = max_per_client
        self._clock = clock
        self._open: Counter[str] = Counter()
        self._frame: _Frame | None = None
        self._changed: asyncio.Event | None = None
        self._producer: asyncio.Task[None] | None = None
        self.computed = 0
        """Events computed so far (one per tick while anyone listens, whatever their number)."""

    @property
    def listeners(self) -> int:
        """Streams open now."""
        return sum(self._open.values())

    def open(self, client: str) -> StreamingResponse | None:
        """The stream response for ``client``; ``None`` if it holds as many as it may."""
        if self._open[client] >= self._max_per_client:
            return None
        self._open[client] += 1
        if self._producer is None:
            self._producer = asyncio.get_running_loop().create_task(self._produce())

        def release() -> None:
            self._open[client] -= 1
            if self._open[client] <= 0:
                del self._open[client]

        return _Stream(self._frames(), release)

    async def _frames(self) -> AsyncIterator[str]:
        seen: _Frame | None = None
        while True:
            changed = self._event()
            frame = self._frame
            if frame is not None and frame is not seen and frame.text is None:
                return
            fresh = frame is not None and (
                seen is not None or self._clock() - frame.made_s <= self._interval_s
            )
            if frame is not None and frame is not seen and fresh and frame.text is not None:
                seen = frame
                yield frame.text
                continue
            if self._stopping.stopped:
                return
            await changed.wait()

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _publish(self, text: str | None) -> None:
        self._frame = _Frame(text, self._clock())
        changed, self._changed = self._event(), asyncio.Event()
        changed.set()

    async def _produce(self) -> None:
        try:
            while self._open and not self._stopping.stopped:
                try:
                    text = await run_in_threadpool(self._compute)
                except Exception:
                    # A bug of ours: end the streams (clients reconnect) rather than hang them.
                    logger.exception("agentguard_service: the stream's event failed")
                    self._publish(None)
                    return
                self.computed += 1
                self._publish(text)
                if await self._stopping.wait(self._interval_s):
                    break
            if self._stopping.stopped:
                self._publish(None)
        finally:
            self._producer = None
