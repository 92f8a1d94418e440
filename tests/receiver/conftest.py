"""Fixtures for the receiver: a running receiver on a free port and an httpx2 client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from agentguard_receiver import Receiver, create_app
from receiver.webhooks import SECRET, TOKEN

MakeReceiver = Callable[..., Receiver]


@pytest.fixture
def make_receiver() -> Iterator[MakeReceiver]:
    """``make_receiver(**create_app_options)``: a started receiver, closed after the test."""
    started: list[Receiver] = []

    def make(**options: object) -> Receiver:
        options.setdefault("secrets", [SECRET])
        options.setdefault("token", TOKEN)
        options.setdefault("rate_limit_per_s", None)
        receiver = Receiver(create_app(**options))  # type: ignore[arg-type]  # options are create_app's
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.close()


@pytest.fixture
def receiver(make_receiver: MakeReceiver, tmp_path: Path) -> Receiver:
    """A receiver with the test secret and token, the default body limit and no rate limit."""
    return make_receiver(db_path=tmp_path / "alerts.db")


@pytest.fixture
def client(receiver: Receiver) -> Iterator[httpx2.Client]:
    """An httpx2 client whose base URL is the receiver's."""
    with httpx2.Client(base_url=receiver.url, timeout=10.0) as http:
        yield http
