"""``agentguard top``: a live terminal dashboard of a metrics service.

The pieces: :class:`~agentguard_cli._topfeed.Feed` keeps the state up to date on a thread
(the event stream, else polling, with backoff), :func:`~agentguard_cli._topview.render` draws
a state, :class:`~agentguard_cli._keys.Keys` reads ``q``. This module runs them together on
the alternate screen and gives the terminal back as it found it, however it ends: ``q``,
Ctrl-C, ``SIGTERM`` or the terminal going away.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from rich.live import Live

from agentguard_cli._keys import Keys
from agentguard_cli._topfeed import Feed
from agentguard_cli._topview import TopState, render

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

TICK_S = 0.25
"""The longest wait for a key between two looks at the state."""

QUIT_KEYS = frozenset("qQ\x03")
"""``q``, and Ctrl-C should the terminal pass it on as a character."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TopOptions:
    """What ``agentguard top`` was asked for."""

    url: str
    """The metrics service's base URL."""
    token: str | None
    """The bearer token, or ``None``."""


def run_top(options: TopOptions, console: Console) -> int:
    """Show the dashboard until ``q``, Ctrl-C or ``SIGTERM``; the exit status (0, or 143).

    Nothing here raises for a service that is down or refuses us: that is shown on screen
    and retried.
    """
    feed = Feed(options.url, options.token).start()
    status = 0
    try:
        with _terminated_by_sigterm(), Keys() as keys, _screen(console) as show:
            shown: tuple[object, ...] = ()
            while True:
                now_s = time.monotonic()
                state = feed.state()
                key = (state, _countdown(state, now_s), console.size)
                if key != shown:
                    show(_fit(console, state, now_s))
                    shown = key
                pressed = keys.read(TICK_S)
                if pressed is None or QUIT_KEYS.intersection(pressed):
                    break
    except KeyboardInterrupt:
        pass
    except _Terminated:
        status = 143
    finally:
        feed.close()
    return status


@contextmanager
def _screen(console: Console) -> Iterator[Callable[[RenderableType], None]]:
    """The alternate screen (given back on exit, with the cursor), and a way to draw on it."""
    with Live(console=console, screen=True, auto_refresh=False, transient=True) as live:
        yield lambda renderable: live.update(renderable, refresh=True)


def _countdown(state: TopState, now_s: float) -> int | None:
    """The whole seconds the screen shows for a retry or an age (redraw when it changes)."""
    if state.problem is not None and state.problem.retry_at_s is not None:
        return int(state.problem.retry_at_s - now_s)
    return None if state.received_at_s is None else int(now_s - state.received_at_s)


def _fit(console: Console, state: TopState, now_s: float) -> RenderableType:
    """The screen for ``state``, with only as many endpoints as the terminal has rows for."""
    full = render(state, now_s=now_s)
    latest = state.latest
    if latest is None:
        return full
    height = len(console.render_lines(full, console.options, pad=False))
    excess = height - console.size.height
    if excess <= 0:
        return full
    # One row goes to the "... N more" line.
    return render(state, now_s=now_s, max_endpoints=len(latest.endpoints) - excess - 1)


class _Terminated(Exception):  # noqa: N818 (named after the signal)
    """``SIGTERM`` arrived: unwind, so the terminal is restored, and exit 143."""


@contextmanager
def _terminated_by_sigterm() -> Iterator[None]:
    """Turn ``SIGTERM`` into :class:`_Terminated` (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
