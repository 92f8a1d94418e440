"""Key presses from the terminal, one at a time, with the standard library (POSIX).

A terminal normally hands a program its input a line at a time, after Enter, and echoes
it. :class:`Keys` puts the terminal in cbreak mode for the duration of a ``with`` block
(``tty.setcbreak``: no line buffering, no echo) and restores the exact settings it found on
the way out, whatever ends the block. Cbreak, unlike raw mode, keeps the terminal's signal
keys: Ctrl-C still raises ``KeyboardInterrupt``. :meth:`Keys.read` waits for input with
``select``, so a caller can refresh its screen between keys.

When standard input is not a terminal (a pipe, ``/dev/null``) or the platform has no
``termios`` (Windows), no key is read: :meth:`Keys.read` only waits, and Ctrl-C is the way
out.
"""

from __future__ import annotations

import os
import select
import sys
import time
from typing import Any, TextIO

if sys.platform != "win32":
    import termios
    import tty


class Keys:
    """Reads keys from ``stream`` (standard input by default) inside a ``with`` block."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = sys.stdin if stream is None else stream
        self._fd: int | None = None
        self._saved: list[Any] | None = None

    def __enter__(self) -> Keys:
        if sys.platform == "win32":  # pragma: no cover (no termios)
            return self
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # no real file behind the stream
            return self
        if not os.isatty(fd):
            return self
        self._saved = termios.tcgetattr(fd)
        self._fd = fd
        tty.setcbreak(fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if sys.platform != "win32" and self._fd is not None and self._saved is not None:
            # TCSADRAIN: output already written (the screen's last frame) goes out first.
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._fd = self._saved = None

    @property
    def reading(self) -> bool:
        """Whether keys are read (standard input is a terminal)."""
        return self._fd is not None

    def read(self, timeout_s: float) -> str | None:
        """The keys pressed, waiting at most ``timeout_s`` for one.

        Returns:
            The characters typed (maybe several), ``""`` when none came in time, or ``None``
            when the terminal is gone (end of input: the caller should quit).
        """
        if self._fd is None:
            time.sleep(timeout_s)
            return ""
        ready, _, _ = select.select([self._fd], [], [], timeout_s)
        if not ready:
            return ""
        try:
            data = os.read(self._fd, 64)
        except OSError:  # the terminal hung up
            return None
        return data.decode("utf-8", "replace") if data else None
