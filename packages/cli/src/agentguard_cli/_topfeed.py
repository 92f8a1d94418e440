"""How ``agentguard top`` gets its snapshots: the event stream, else polling, on a thread.

:class:`Feed` reads ``/api/v1/stream`` (server-sent events, one ``snapshot`` a second) with
httpx2. When the service has no stream (a 404 or 405, or an answer that is not
``text/event-stream``, as from a proxy that does not pass streams) it polls
``/api/v1/snapshot`` once a second instead, until the connection is lost; every new
connection tries the stream first again. Whatever fails is put on screen as a
:class:`~agentguard_cli._topview.Problem` and retried with backoff: the service unreachable,
a 401 (the token missing or wrong), a 429 or 503 (after its ``Retry-After``), an answer that
is not a snapshot.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx2

from agentguard_cli._topview import NotASnapshot, Problem, Snapshot, Source, TopState

POLL_INTERVAL_S = 1.0
"""Seconds between two snapshot requests when polling (the stream's own pace)."""

FIRST_RETRY_S = 1.0
"""The first wait after a failure; it doubles with each failure in a row."""

MAX_RETRY_S = 10.0
"""The longest wait between two attempts."""

READ_TIMEOUT_S = 5.0
"""The stream sends a snapshot a second: this long without a byte means it is gone."""

MAX_EVENT_CHARS = 8 * 1024 * 1024
"""A bigger event is refused (the connection is dropped and made again)."""

_NO_STREAM = frozenset({404, 405, 406, 501})
"""Answers to ``/api/v1/stream`` that mean there is no stream here: poll instead."""


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One server-sent event."""

    name: str
    """The ``event:`` field (``message`` when absent)."""
    data: str
    """The ``data:`` lines, joined by newlines."""


def server_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """The events of a ``text/event-stream`` body, given line by line without line endings.

    Follows the WHATWG rules for the fields this needs: ``event`` and ``data`` (a leading
    space after the colon is dropped), comments (``:...``) and unknown fields ignored, a blank
    line ends an event, an event without data is not dispatched.

    Raises:
        ValueError: an event's data passed :data:`MAX_EVENT_CHARS`.
    """
    name, size = "", 0
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield ServerEvent(name or "message", "\n".join(data))
            name, data, size = "", [], 0
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            size += len(value) + 1
            if size > MAX_EVENT_CHARS:
                raise ValueError(f"an event of more than {MAX_EVENT_CHARS:,} characters")
            data.append(value)


class Backoff:
    """Waits that double from ``first_s`` up to ``max_s``; :meth:`reset` after a success.

    No jitter: one terminal retrying does not make a thundering herd, and a countdown that
    keeps its rhythm reads better.
    """

    def __init__(self, first_s: float = FIRST_RETRY_S, max_s: float = MAX_RETRY_S) -> None:
        self._first_s = first_s
        self._max_s = max_s
        self._next_s = first_s

    def next(self) -> float:
        """The wait before the next attempt (each call doubles the one after)."""
        wait_s = self._next_s
        self._next_s = min(self._max_s, self._next_s * 2)
        return wait_s

    def reset(self) -> None:
        """Start again from ``first_s``."""
        self._next_s = self._first_s


class _Retry(Exception):  # noqa: N818 (a control-flow signal, not an error of the user's)
    """An attempt failed: show the problem, wait ``after_s`` (or the backoff), try again."""

    def __init__(self, message: str, detail: str | None = None, after_s: float | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.after_s = after_s


class Feed:
    """Keeps a :class:`TopState` up to date from a metrics service, on a daemon thread.

    Args:
        url: The service's base URL (``http://127.0.0.1:9464``).
        token: The bearer token, or ``None``.
        clock: Monotonic seconds (the state's times and the retry countdown).
        poll_interval_s: Seconds between two snapshot requests when polling.
        backoff: The waits after failures.
        transport: The httpx2 transport (default: real HTTP).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_interval_s: float = POLL_INTERVAL_S,
        backoff: Backoff | None = None,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._token = token
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._backoff = backoff or Backoff()
        self._transport = transport
        self._lock = threading.Lock()
        self._state = TopState(url=self._url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentguard-top-feed", daemon=True)

    def state(self) -> TopState:
        """The state now (an immutable value; a new one after each change)."""
        with self._lock:
            return self._state

    def start(self) -> Feed:
        """Start reading; returns ``self``."""
        self._thread.start()
        return self

    def close(self, timeout_s: float = 0.1) -> None:
        """Ask the thread to stop and wait at most ``timeout_s`` for it.

        A read blocked on the network cannot be interrupted from another thread; the thread
        is a daemon and notices the request at its next event (within a second on the
        stream) or read timeout, so quitting never waits for the network.
        """
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _snapshot(self, document: object, source: Source) -> None:
        try:
            snapshot = Snapshot.from_json(document)
        except NotASnapshot as exc:
            raise _Retry(
                f"{self._url} does not look like an agentguard metrics service", str(exc)
            ) from None
        at_s = self._clock()
        with self._lock:
            self._state = self._state.with_snapshot(snapshot, source=source, at_s=at_s)
        self._backoff.reset()

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        timeout = httpx2.Timeout(READ_TIMEOUT_S, connect=3.0)
        with httpx2.Client(headers=headers, timeout=timeout, transport=self._transport) as client:
            stream = True
            while not self._stop.is_set():
                try:
                    if stream:
                        stream = self._read_stream(client)
                    else:
                        self._poll(client)
                except _Retry as retry:
                    stream = True
                    self._wait(retry)
                except Exception as exc:  # noqa: BLE001 (the screen must say it, not vanish)
                    if self._stop.is_set():
                        return
                    stream = True
                    self._wait(_Retry("unexpected error", f"{type(exc).__name__}: {exc}"))

    def _wait(self, retry: _Retry) -> None:
        wait_s = retry.after_s if retry.after_s is not None else self._backoff.next()
        problem = Problem(
            message=retry.message, detail=retry.detail, retry_at_s=self._clock() + wait_s
        )
        self._show(problem)
        self._stop.wait(wait_s)

    def _show(self, problem: Problem) -> None:
        with self._lock:
            self._state = self._state.with_problem(problem)

    def _read_stream(self, client: httpx2.Client) -> bool:
        """Read the stream until it ends; ``False`` when this service has none."""
        with self._reaching(), client.stream("GET", f"{self._url}/api/v1/stream") as response:
            content_type = response.headers.get("content-type", "").partition(";")[0]
            if response.status_code in _NO_STREAM or (
                response.status_code == 200 and content_type.strip() != "text/event-stream"
            ):
                return False
            if response.status_code != 200:
                response.read()
                self._refuse(response)
            try:
                for event in server_events(response.iter_lines()):
                    if self._stop.is_set():
                        return True
                    if event.name == "snapshot":
                        self._snapshot(_json(event.data), "stream")
                    elif event.name == "error":
                        message = "the service cannot read its store"
                        self._show(Problem(message=message, detail=_message(event.data)))
            except ValueError as exc:  # an endless event, or bytes that are not text
                raise _Retry(f"{self._url} sent a malformed event stream", str(exc)) from None
        raise _Retry(f"{self._url} ended the stream")

    def _poll(self, client: httpx2.Client) -> None:
        with self._reaching():
            response = client.get(f"{self._url}/api/v1/snapshot")
        if response.status_code != 200:
            self._refuse(response)
        self._snapshot(_json(response.text), "polling")
        self._stop.wait(self._poll_interval_s)

    def _refuse(self, response: httpx2.Response) -> None:
        """Raise the :class:`_Retry` for a non-200 answer."""
        status = response.status_code
        detail = _message(response.text)
        if status == 401:
            if self._token is None:
                raise _Retry(
                    f"{self._url} answered 401: the token is missing",
                    "pass --token T or set AGENTGUARD_TOKEN",
                )
            raise _Retry(
                f"{self._url} answered 401: the token is wrong",
                "the service has another one (--token or AGENTGUARD_TOKEN)",
            )
        if status in (429, 503):
            what = "is rate limiting this client" if status == 429 else "cannot read its store"
            raise _Retry(f"{self._url} {what} ({status})", detail, _retry_after(response.headers))
        path = response.request.url.path
        if status == 404:
            hint = "is it the base URL of an agentguard metrics service?"
            raise _Retry(f"{self._url} has no {path} (404)", hint)
        raise _Retry(f"{self._url} answered {status} to {path}", detail)

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn httpx2's transport errors into a :class:`_Retry` that says what happened."""
        try:
            yield
        except httpx2.TimeoutException as exc:
            what = "connecting" if isinstance(exc, httpx2.ConnectTimeout) else "reading"
            raise _Retry(f"cannot reach {self._url}", f"timed out {what}") from None
        except httpx2.ConnectError as exc:
            raise _Retry(f"cannot reach {self._url}", _reason(exc)) from None
        except httpx2.TransportError as exc:
            raise _Retry(f"lost the connection to {self._url}", _reason(exc)) from None


def _reason(exc: Exception) -> str:
    """``[Errno 111] Connection refused`` -> ``connection refused``."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _json(text: str) -> object:
    """``text`` decoded, or ``None`` when it is not JSON (and so not a snapshot)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _message(body: str) -> str | None:
    """The ``message`` of a JSON error body, if it is one."""
    document = _json(body)
    message = document.get("message") if isinstance(document, dict) else None
    return message if isinstance(message, str) else None


def _retry_after(headers: httpx2.Headers) -> float | None:
    """``Retry-After`` in seconds (1 to :data:`MAX_RETRY_S`), when given as a number."""
    try:
        seconds = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    return min(MAX_RETRY_S, max(1.0, seconds)) if math.isfinite(seconds) else None
