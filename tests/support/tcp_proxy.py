"""A TCP proxy between a client and a server that a test can make misbehave.

Modes, switchable at any time:

- ``"pass"``: bytes flow both ways;
- ``"drop_replies"``: requests reach the server, its replies are read and thrown away (a reply
  lost on the way back, so the client times out although the server did the work);
- ``"blackhole"``: connections are accepted, what the client sends is read and thrown away,
  nothing reaches the server and nothing comes back (a server that hangs).

A mode change applies to bytes moved after it, on every open connection.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import Literal

Mode = Literal["pass", "drop_replies", "blackhole"]


class TCPProxy:
    """Listens on a free loopback port and forwards to ``upstream_port``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.dropped_replies = 0
        """How many reads of the server's replies were thrown away (``"drop_replies"``)."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        accept = threading.Thread(target=self._accept, name="tcp-proxy-accept", daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def url(self) -> str:
        """A ``redis://`` URL through the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            with self._lock:
                self._threads.append(thread)
                self._sockets.append(client)

    def _serve(self, client: socket.socket) -> None:
        server: socket.socket | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, "client")
            try:
                while not self._stop.is_set():
                    if server is None and self.mode != "blackhole":
                        try:
                            server = socket.create_connection(self.upstream, timeout=1.0)
                        except OSError:
                            return  # the server is down: the client sees the connection end
                        with self._lock:
                            self._sockets.append(server)
                        selector.register(server, selectors.EVENT_READ, "server")
                    for key, _ in selector.select(timeout=0.1):
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]  # sockets only
                        if not data:
                            return
                        if key.data == "client" and self.mode != "blackhole":
                            if server is not None:
                                server.sendall(data)
                        elif key.data == "server" and self.mode == "pass":
                            client.sendall(data)
                        elif key.data == "server":
                            with self._lock:
                                self.dropped_replies += 1
            except OSError:
                return
            finally:
                client.close()
                if server is not None:
                    server.close()

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stop.set()
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            sock.close()
        for thread in threads:
            thread.join(5)
