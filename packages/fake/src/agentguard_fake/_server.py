"""The fake Messages API served over real HTTP by uvicorn in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Final

import uvicorn

from agentguard_fake._app import AnswerModel, ScriptedAPI
from agentguard_fake._script import RecordedRequest, Step
from agentguard_fake._sessions import ListPrice, ManagedSession

if TYPE_CHECKING:
    from typing_extensions import Self

DATED_MODELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5": "claude-haiku-4-5-20251001",
        "claude-opus-4-5": "claude-opus-4-5-20251101",
        "claude-opus-4-1": "claude-opus-4-1-20250805",
        "claude-opus-4-0": "claude-opus-4-20250514",
        "claude-sonnet-4-0": "claude-sonnet-4-20250514",
        "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
        "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    }
)
"""Model aliases and the dated model the API answers with; ``answer_model=DATED_MODELS``
makes the fake answer like that."""

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0


class FakeAnthropicServer:
    """A local Anthropic Messages API for tests, examples and demos.

    It answers ``POST /v1/messages`` (plain and streamed, also with ``?beta=true``),
    ``POST /v1/messages/count_tokens`` and the Message Batches endpoints with the bytes
    the real API sends, so the real ``anthropic`` SDK parses its answers into its own types
    and exceptions; Bedrock's and Vertex's URL shapes too, and the first-party ones under a
    prefix (Foundry's ``/anthropic``). Queued script steps answer requests in order; with
    the queue empty, a reply derived from the request and the seed answers, with prompt
    caching emulated (see ``agentguard_fake``).

    Example:
        >>> with FakeAnthropicServer(seed=7) as server:  # doctest: +SKIP
        ...     server.enqueue(Fail(status=529), Reply(text="Hi"))
        ...     client = anthropic.Anthropic(base_url=server.url, api_key="test-key")

    Args:
        seed: Chooses default texts and every id; same seed and requests, same bytes.
        host: The address to bind; keep the loopback default unless you mean otherwise.
        port: The port to bind; 0 picks a free one (read it from :attr:`port`).
        clock: Seconds, monotonic; the prompt cache's TTLs run on it. Inject a fake one to
            expire entries without waiting.
        min_cacheable_tokens: Prefixes shorter than this are never cached (the API's
            minimum is 1024 tokens for most models, 2048 or 4096 for some).
        shutdown_timeout_s: How long :meth:`stop` lets a slow answer finish before it is
            cancelled.
        answer_model: The model an answer names, from the requested one: a mapping (models
            not in it are echoed; :data:`DATED_MODELS` answers aliases with dated models),
            a callable, or ``None`` to echo. A :class:`Reply` naming a ``model`` wins.
        wall_clock: Unix seconds, for the timestamps of Message Batches.
        list_price: Prices a Managed Agents session's model requests for its ``list_cost``
            (:data:`ListPrice`); without it a session reports a list cost only when scripted.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        min_cacheable_tokens: int = 1024,
        shutdown_timeout_s: float = 1.0,
        answer_model: AnswerModel = None,
        wall_clock: Callable[[], float] = time.time,
        list_price: ListPrice | None = None,
    ) -> None:
        self._api = ScriptedAPI(
            seed=seed,
            clock=clock,
            wall_clock=wall_clock,
            min_cacheable_tokens=min_cacheable_tokens,
            answer_model=answer_model,
            list_price=list_price,
        )
        self._host = host
        self._requested_port = port
        self._shutdown_timeout_s = shutdown_timeout_s
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: The server has not been started.
        """
        if self._port is None:
            raise RuntimeError("the server is not running: call start() or use `with` first")
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give the SDK: ``anthropic.Anthropic(base_url=server.url, ...)``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def seed(self) -> int:
        """The seed of default texts and ids."""
        return self._api.seed

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request received since the start or the last :meth:`reset`, oldest first."""
        return self._api.requests

    @property
    def pending(self) -> tuple[Step, ...]:
        """The queued steps not yet used: Messages steps first, then :class:`Batch` steps."""
        return self._api.pending

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._thread is not None and self._thread.is_alive()

    def enqueue(self, *steps: Step | ManagedSession) -> None:
        """Queue steps; each Messages request (any provider's shape) uses the next answer.

        A :class:`Delay` holds the answer that follows it. A :class:`Batch` goes to a queue
        of its own and scripts the next batch created; a :class:`ManagedSession` scripts the
        next session created with ``client.beta.sessions.create``. ``count_tokens``, the other batch
        endpoints and malformed requests use no steps.

        Raises:
            TypeError: A step is not a ``Reply``, ``Fail``, ``FailMidStream``, ``Delay``,
                ``Batch`` or ``ManagedSession``.
        """
        self._api.enqueue(*steps)

    def add_session(self, script: ManagedSession | None = None) -> str:
        """Add a Managed Agents session scripted by ``script`` (an empty one by default).

        Returns:
            Its id, for ``client.beta.sessions.retrieve`` and ``.events.stream``/``.list``.
        """
        return self._api.add_session(script)

    def reset(self) -> None:
        """Forget queued steps, recorded requests, the counter, the prompt cache and batches.

        After a reset the server answers exactly like a new one with the same seed.
        """
        self._api.reset()

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread; returns once the server accepts.

        Raises:
            RuntimeError: It is already running, or did not start in time.
        """
        if self._thread is not None:
            raise RuntimeError("the server is already running; stop() it before starting again")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted connections
        # only for sockets that say they are TCP, and without it every answer waits ~40 ms
        # for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._requested_port))
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            self._api.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=max(1, round(self._shutdown_timeout_s)),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-anthropic", daemon=True
        )
        self._socket, self._server, self._thread = sock, server, thread
        self._port = int(sock.getsockname()[1])
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake Anthropic server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        self._port = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(_STOP_TIMEOUT_S + self._shutdown_timeout_s)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(_STOP_TIMEOUT_S)
        if sock is not None:
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "stopped"
        return f"<FakeAnthropicServer {where} seed={self.seed} pending={len(self.pending)}>"
