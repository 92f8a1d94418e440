"""Running an ASGI app on uvicorn: in the foreground, or on a background thread.

The servers of agentguard (the metrics service, the alert receiver) run the same way: bound
to loopback unless told otherwise, no access log, a short graceful shutdown, the
:class:`ConnectionLimits` that keep idle and half-sent connections from taking them down, and,
for tests, demos and agents serving their own metrics, on a daemon thread with ``port=0``
picking a free port. They may not depend on each other, so the mechanics live here once, with
the strict number parsing their parameters share (:func:`ascii_int`, :func:`ascii_number`).

uvicorn is imported when a server is made, not with this module: the core does not need it,
and the packages that serve declare ``agentguard[serving]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "FD_RESERVE",
    "GRACE_S",
    "BackgroundServer",
    "ConnectionLimits",
    "add_limit_arguments",
    "ascii_int",
    "ascii_number",
    "limits_from_arguments",
    "number_argument",
    "serve",
]

_logger = logging.getLogger("agentguard.serving")

_S = TypeVar("_S", bound="BackgroundServer")

GRACE_S = 2
"""Seconds open connections get to finish when a server stops."""

FD_RESERVE = 64
"""File descriptors kept free of connections for everything else the process opens (Redis,
SQLite, logs): :attr:`ConnectionLimits.max_connections` is lowered to the process's limit
(``ulimit -n``) minus these."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    """How long a server waits for each part of a request, and how many connections it keeps.

    The defaults suit the metrics service and the receiver on one machine; every server and
    command takes its own (``--max-connections``, ``--header-timeout``, ``--body-timeout``,
    ``--keep-alive-timeout``). A client over a deadline gets ``408 Request Timeout`` (nothing
    if it had sent nothing) and its connection is closed. At the cap a new connection takes
    the place of the one that has waited longest for a request (idle, or trickling it),
    which is closed; only when every connection is busy is the new one answered
    ``503 TOO_MANY_CONNECTIONS`` and closed at once.

    Raises:
        ValueError: a timeout that is not a positive number of seconds, or a cap below 1.
    """

    header_timeout_s: float = 10.0
    """Seconds from the connection (or the previous answer) to the end of a request's
    headers. Counted from the start, not from the last byte: trickling bytes gains nothing."""
    body_timeout_s: float = 30.0
    """Seconds from the end of the headers to the end of the body."""
    keep_alive_s: float = 5.0
    """Seconds an idle connection is kept after an answer (uvicorn's ``timeout_keep_alive``)."""
    max_connections: int = 1000
    """Open connections at most; lowered to ``ulimit -n`` minus :data:`FD_RESERVE`."""

    def __post_init__(self) -> None:
        for name in ("header_timeout_s", "body_timeout_s", "keep_alive_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number of seconds, got {value!r}")
            if not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        cap: object = self.max_connections
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"max_connections must be an int >= 1, got {cap!r}")


def _connection_cap(wanted: int) -> int:
    """``wanted``, lowered to what the file descriptor limit leaves (logged when lowered)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to read
        return wanted
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or wanted <= soft - FD_RESERVE:
        return wanted
    cap = max(1, soft - FD_RESERVE)
    _logger.warning(
        "max_connections lowered from %d to %d: the process may open %d files (ulimit -n); "
        "raise that limit to keep more connections",
        wanted,
        cap,
        soft,
    )
    return cap


_ASCII_INT = re.compile(r"[0-9]{1,18}")
_ASCII_NUMBER = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})?")


def ascii_int(text: str) -> int:
    """The non-negative integer written in ASCII digits in ``text``; nothing else is taken.

    ``int()`` also takes signs, spaces, underscores and every Unicode digit (Arabic-Indic,
    full-width), and ``str.isdigit`` takes ``"²"``, which ``int()`` refuses: a parameter
    checked by one and parsed by the other answers 500. Parse every request parameter here.

    Raises:
        ValueError: anything but 1 to 18 ASCII digits.
    """
    if not _ASCII_INT.fullmatch(text):
        raise ValueError(f"expected digits 0-9, got {text!r}")
    return int(text)


def ascii_number(text: str) -> float:
    """The non-negative number written as ASCII ``digits[.digits]`` in ``text``.

    No sign, exponent, ``inf``, ``nan``, underscores, spaces or non-ASCII digits, which
    ``float()`` would all take.

    Raises:
        ValueError: anything else.
    """
    if not _ASCII_NUMBER.fullmatch(text):
        raise ValueError(f"expected digits 0-9 with an optional .fraction, got {text!r}")
    return float(text)


_N = TypeVar("_N", int, float)


def number_argument(
    parse: Callable[[str], _N],
    what: str,
    low: float,
    high: float,
    rule: str,
    *,
    low_open: bool = False,
) -> Callable[[str], _N]:
    """An argparse ``type``: ``parse``d text within ``low`` to ``high``, else a one-line error.

    Pass :func:`ascii_int` or :func:`ascii_number` as ``parse``, so a flag takes what a
    request parameter takes. The error names ``what`` and ``rule`` when the text does not
    parse, ``rule`` when the number is out of range.
    """

    def convert(text: str) -> _N:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {what} in digits 0-9 ({rule}), got {text!r}"
            ) from None
        if not ((low < value) if low_open else (low <= value)) or not value <= high:
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return convert


_SECONDS = number_argument(
    ascii_number, "seconds", 0, 86400, "must be between 0 and 86400 seconds", low_open=True
)
_LIMIT_ARGUMENTS: tuple[tuple[str, str, str, Callable[[str], float]], ...] = (
    (
        "max_connections",
        "--max-connections",
        "N",
        number_argument(ascii_int, "a number of connections", 1, 10**7, "must be at least 1"),
    ),
    ("header_timeout_s", "--header-timeout", "S", _SECONDS),
    ("body_timeout_s", "--body-timeout", "S", _SECONDS),
    ("keep_alive_s", "--keep-alive-timeout", "S", _SECONDS),
)
_LIMIT_HELP = {
    "max_connections": "open connections at most; a new one displaces the longest idle, "
    "or gets 503 when all are busy",
    "header_timeout_s": "seconds a client has to send a request's headers",
    "body_timeout_s": "seconds a client has to send a request's body, once its headers are in",
    "keep_alive_s": "seconds an idle connection is kept after an answer",
}


def add_limit_arguments(parser: argparse.ArgumentParser, *, env_prefix: str | None = None) -> None:
    """Add the options of :class:`ConnectionLimits` to a command line, as a group.

    ``--max-connections N``, ``--header-timeout S``, ``--body-timeout S`` and
    ``--keep-alive-timeout S``, with the defaults of :class:`ConnectionLimits`. With
    ``env_prefix``, each is also read from an environment variable (a flag wins):
    ``<prefix>MAX_CONNECTIONS``, ``<prefix>HEADER_TIMEOUT``, ``<prefix>BODY_TIMEOUT``,
    ``<prefix>KEEP_ALIVE_TIMEOUT``. Read them back with :func:`limits_from_arguments`.
    """
    group = parser.add_argument_group("connection limits")
    defaults = ConnectionLimits()
    for field, flag, metavar, convert in _LIMIT_ARGUMENTS:
        default: object = getattr(defaults, field)
        help_text = f"{_LIMIT_HELP[field]} (default {default}"
        if env_prefix is not None:
            name = env_prefix + flag.removeprefix("--").replace("-", "_").upper()
            default = os.environ.get(name, default)
            help_text += f"; ${name}"
        group.add_argument(
            flag,
            dest=f"limits_{field}",
            type=convert,
            default=default,
            metavar=metavar,
            help=help_text + ")",
        )


def limits_from_arguments(args: argparse.Namespace) -> ConnectionLimits:
    """The :class:`ConnectionLimits` parsed by options of :func:`add_limit_arguments`."""
    return ConnectionLimits(
        **{field: getattr(args, f"limits_{field}") for field, *_ in _LIMIT_ARGUMENTS}
    )


def _server(
    app: Any,
    host: str,
    port: int,
    *,
    log_config: bool,
    on_stop: Callable[[], object] | None,
    limits: ConnectionLimits | None,
) -> uvicorn.Server:
    import uvicorn

    from agentguard._connections import guarded_protocol

    class _Server(uvicorn.Server):
        """A uvicorn server that calls ``on_stop`` as soon as it is asked to stop."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if on_stop is not None:
                on_stop()
            super().handle_exit(sig, frame)

    limits = limits if limits is not None else ConnectionLimits()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits, _connection_cap(limits.max_connections)),
        lifespan="on",
        access_log=False,
        log_config=uvicorn.config.LOGGING_CONFIG if log_config else None,
        timeout_graceful_shutdown=GRACE_S,
        # uvicorn hands it to loop.call_later, which takes float seconds.
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]
        server_header=False,
    )
    return _Server(config)


def serve(
    app: Any,
    *,
    host: str,
    port: int,
    on_stop: Callable[[], object] | None = None,
    limits: ConnectionLimits | None = None,
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM), logging as uvicorn does.

    ``on_stop`` runs as soon as the stop is asked for (to end long-lived responses, say);
    ``limits`` are the connection limits (the defaults of :class:`ConnectionLimits` if None).
    """
    _server(app, host, port, log_config=True, on_stop=on_stop, limits=limits).run()


class BackgroundServer:
    """Serves an ASGI app on a daemon thread until :meth:`close`.

    ``port=0`` picks a free port; read the one chosen from :attr:`port` or :attr:`url`. Use
    it as a context manager, or call :meth:`close`, which calls ``on_stop`` first (to end
    long-lived responses) and waits at most ``timeout_s`` for the thread.

    Args:
        app: The ASGI app.
        host: The address to bind.
        port: The port; 0 picks a free one.
        name: The thread's name, and what error messages call the server.
        startup_timeout_s: How long to wait for the server to listen.
        on_stop: Called when the server is asked to stop.
        limits: The connection limits; the defaults of :class:`ConnectionLimits` if None.

    Raises:
        RuntimeError: the server did not start within ``startup_timeout_s`` (the port is
            taken, say).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int = 0,
        name: str = "agentguard-server",
        startup_timeout_s: float = 10.0,
        on_stop: Callable[[], object] | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._on_stop = on_stop
        self._server = _server(app, host, port, log_config=False, on_stop=on_stop, limits=limits)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError(f"{name} did not start on {host}:{port}")
            time.sleep(0.005)
        sockname = self._server.servers[0].sockets[0].getsockname()
        self.host: str = host
        """The address served."""
        self.port: int = int(sockname[1])
        """The port served (the one picked when ``port=0`` was given)."""

    def _run(self) -> None:
        # uvicorn ends with sys.exit when it cannot start (a taken port): on this thread that
        # is only the end of the thread, which the constructor reports as RuntimeError.
        with contextlib.suppress(SystemExit):
            self._server.run()

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is still alive."""
        return self._thread.is_alive()

    def close(self, timeout_s: float = GRACE_S + 3.0) -> None:
        """Call ``on_stop``, stop serving, wait at most ``timeout_s`` for the thread."""
        if self._on_stop is not None:
            self._on_stop()
        self._server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}{'' if self.running else ' (stopped)'}>"
