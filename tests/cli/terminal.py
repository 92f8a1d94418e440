"""Drive a command in a pseudo-terminal, as a user's terminal would, and read its screen.

The child becomes a session leader with the pseudo-terminal as its controlling terminal, so
Ctrl-C typed into it (``\\x03``) becomes ``SIGINT`` exactly as at a real terminal. What it
writes is split into frames at each cursor-home sequence (``ESC [ H``, how rich redraws the
alternate screen) and stripped of escape sequences: :meth:`Terminal.wait_for` looks for a
complete frame (the whole screen drawn; the newest may still be arriving) that passes a check.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping

from rich.cells import cell_len

ROWS, COLS = 40, 80

# Runs in the child: take the pseudo-terminal (its stdin) as the controlling terminal, let
# Ctrl-C interrupt as a shell's foreground job would (a test run started in the background
# inherits SIGINT ignored), then run `python -m agentguard_cli` with the arguments given.
_LAUNCH = """
import fcntl, runpy, signal, termios
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
signal.signal(signal.SIGINT, signal.default_int_handler)
runpy.run_module("agentguard_cli", run_name="__main__", alter_sys=True)
"""

_ESCAPE = re.compile(
    r"\x1b(\[[0-?]*[ -/]*[@-~]"  # CSI: cursor, colors, modes
    r"|\][^\x07\x1b]*(\x07|\x1b\\)"  # OSC: the window title
    r"|[()][0-9A-Za-z]|[=>78])"  # character sets, keypad, cursor save and restore
)
HOME = "\x1b[H"
LEAVE_ALTERNATE_SCREEN = "\x1b[?1049l"
SHOW_CURSOR = "\x1b[?25h"


def plain(text: str) -> str:
    """``text`` without escape sequences and carriage returns."""
    return _ESCAPE.sub("", text).replace("\r", "")


class Terminal:
    """``python -m agentguard_cli *args`` in a ``rows`` x COLS pseudo-terminal."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None, rows: int = ROWS) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, COLS, 0, 0))
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in {"COLUMNS", "LINES", "NO_COLOR", "AGENTGUARD_TOKEN"}
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**base, "TERM": "xterm-256color", **(env or {})},
            start_new_session=True,
        )
        os.close(slave)
        self.rows = rows
        self.master = master
        self.raw = ""
        # A read can end inside a character (the table's borders take three bytes each).
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._closed = False

    def _read(self, timeout_s: float) -> bool:
        """Read what is there within ``timeout_s``; ``False`` once the terminal is closed."""
        if self._closed:
            return False
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave end is closed (the child exited)
            data = b""
        self.raw += self._decoder.decode(data, final=not data)
        self._closed = not data
        return not self._closed

    def frames(self) -> list[str]:
        """Every frame drawn so far, newest last, as plain text (the last may be partial)."""
        return [plain(frame) for frame in self.raw.split(HOME)[1:]]

    def complete(self, frame: str) -> bool:
        """Whether ``frame`` is drawn whole, not still being read.

        rich draws the alternate screen in full, ``rows`` lines of COLS cells, blank ones too.
        """
        lines = frame.split("\n")
        return len(lines) >= self.rows and cell_len(lines[self.rows - 1]) >= COLS

    def wait_for(self, check: Callable[[str], bool], timeout_s: float = 20.0) -> str:
        """The newest complete frame that passes ``check``, waiting at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            for frame in reversed(self.frames()):
                if self.complete(frame) and check(frame):
                    return frame
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.2)):
                frames = self.frames()
                last = frames[-1] if frames else plain(self.raw)
                raise AssertionError(f"no frame passed the check; the last one:\n{last}")

    def send(self, keys: bytes) -> None:
        """Type ``keys``."""
        os.write(self.master, keys)

    def wait(self, timeout_s: float = 10.0) -> int:
        """The exit status, reading the terminal meanwhile (a full terminal blocks a writer)."""
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            if not self._read(0.05):
                break
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def line_mode(self) -> bool:
        """Whether the terminal is back in its usual mode: line editing and echo on."""
        lflag = termios.tcgetattr(self.master)[3]
        return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)

    def close(self) -> None:
        """Kill the command if it still runs; close the terminal."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


FIGURES = (
    "uptime",
    "executions",
    "active runs",
    "errors",
    "cost",
    "cache hit ratio",
    "requests/s",
    "$/h",
)


def figures(frame: str) -> dict[str, str]:
    """The header's figures of a frame of ``agentguard top``: label -> the value shown."""
    shown = {}
    for label in FIGURES:
        # A value has no space, but for durations such as "1h 02m".
        found = re.search(rf"(?:^|\s){re.escape(label)} (\S+(?: \d+[smh])?)", frame, re.M)
        if found:
            shown[label] = found.group(1)
    return shown


def endpoint_rows(frame: str) -> list[list[str]]:
    """The rows of the endpoints table, top to bottom: [endpoint, requests, avg, p95]."""
    rows = []
    for line in frame.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4:
            rows.append(cells)
    return rows
