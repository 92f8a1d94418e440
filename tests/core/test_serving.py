"""agentguard.serving: an ASGI app on a background uvicorn thread, for the server packages."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest

from agentguard.serving import BackgroundServer


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: every HTTP request answers 200 ``hello``."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def test_it_serves_on_a_free_port_and_stops() -> None:
    stopped: list[bool] = []
    with BackgroundServer(
        hello, host="127.0.0.1", name="test server", on_stop=lambda: stopped.append(True)
    ) as server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(server.url + "/", timeout=5) as response:
            assert response.read() == b"hello"
        assert server.running
    assert stopped == [True]
    assert not server.running


def test_a_busy_port_fails_to_start_in_time() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"test server did not start on 127.0.0.1:{port}"):
            BackgroundServer(hello, host="127.0.0.1", port=port, name="test server")
