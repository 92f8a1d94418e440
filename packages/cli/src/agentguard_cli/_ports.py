"""Binding checks shared by the commands that serve."""

from __future__ import annotations

import socket

__all__ = ["check_port"]


def check_port(host: str, port: int) -> None:
    """Fail now, with ``OSError``, when ``host:port`` cannot be bound (a busy port, say).

    The servers start on background threads, where a bind error would only end the thread; a
    command checks first so it can say what is wrong in one line.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
