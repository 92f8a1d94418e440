"""``agentguard top`` in a pseudo-terminal against a real metrics service (see conftest.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from agentguard.events import ToolCallFinished
from agentguard_metrics import Aggregator, MemoryStore
from cli.conftest import Serve
from cli.terminal import (
    LEAVE_ALTERNATE_SCREEN,
    ROWS,
    SHOW_CURSOR,
    Terminal,
    endpoint_rows,
    figures,
)

QUIT_WITHIN_S = 5.0


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def top(
    terminals: list[Terminal], *args: str, env: dict[str, str] | None = None, rows: int = ROWS
) -> Terminal:
    terminal = Terminal("top", *args, env=env, rows=rows)
    terminals.append(terminal)
    return terminal


def shows_data(frame: str) -> bool:
    """The frame shows the known store (``wait_for`` only passes it complete frames)."""
    return re.search(r"tool:lookup_order.*\n└", frame) is not None


def assert_terminal_restored(terminal: Terminal) -> None:
    assert terminal.line_mode(), "the terminal was left without line editing or echo"
    tail = terminal.raw[-200:]
    assert LEAVE_ALTERNATE_SCREEN in tail
    assert SHOW_CURSOR in tail


def test_top_shows_the_services_numbers_and_q_quits(
    serve: Serve, terminals: list[Terminal]
) -> None:
    service = serve()
    terminal = top(terminals, "--url", service.url)
    frame = terminal.wait_for(shows_data)

    assert f"{service.url}  ● live (stream)" in frame
    shown = figures(frame)
    assert shown["executions"] == "7"
    assert shown["active runs"] == "1"
    assert shown["errors"] == "1"
    assert shown["cost"] == "$0.3750"
    assert shown["cache hit ratio"] == "66.7%"
    assert endpoint_rows(frame) == [  # by requests, the busiest first
        ["llm:sonnet", "3", "250.0", "250.0"],
        ["tool:search", "2", "100.0", "100.0"],
        ["llm:haiku", "1", "500.0", "500.0"],
        ["tool:lookup_order", "1", "40.0", "40.0"],
    ]
    # Breakers, tokens and loop detections side by side.
    assert re.search(r"anthropic\s+open\s+input\s+3,000\s+2\s*$", frame, re.M), frame
    assert re.search(r"search_api\s+closed\s+output\s+600\s*$", frame, re.M), frame
    assert re.search(r"^\s+cache_read\s+6,000\s*$", frame, re.M), frame

    terminal.send(b"q")
    assert terminal.wait(QUIT_WITHIN_S) == 0
    assert_terminal_restored(terminal)


def test_a_short_terminal_shows_the_busiest_endpoints_and_how_many_more(
    serve: Serve, terminals: list[Terminal]
) -> None:
    store = MemoryStore()
    aggregator = Aggregator(store, interval_s=None)
    for n in range(1, 31):  # tool t01 called once ... t30 thirty times
        for _ in range(n):
            aggregator.record(ToolCallFinished(tool=f"t{n:02d}", duration_s=0.01))
    assert aggregator.flush(5.0)
    terminal = top(terminals, "--url", serve(store=store).url, rows=24)
    frame = terminal.wait_for(lambda f: re.search(r"more.*\n└", f) is not None)
    lines = frame.rstrip().splitlines()
    assert len(lines) <= 24
    assert lines[-1].startswith("└")  # the table is whole, not cut by the screen's edge
    rows = endpoint_rows(frame)
    assert rows[0] == ["tool:t30", "30", "10.0", "10.0"]
    shown = len(rows) - 1
    assert rows[-1][0] == f"… {30 - shown} more"
    assert [row[0] for row in rows[:-1]] == [f"tool:t{n:02d}" for n in range(30, 30 - shown, -1)]


def test_top_falls_back_to_polling_without_the_stream(
    serve: Serve, terminals: list[Terminal]
) -> None:
    service = serve(stream=False)
    terminal = top(terminals, "--url", service.url)
    frame = terminal.wait_for(shows_data)
    assert "● live (polling)" in frame
    assert figures(frame)["executions"] == "7"
    terminal.send(b"q")
    assert terminal.wait(QUIT_WITHIN_S) == 0


def test_an_unreachable_url_is_said_and_retried_until_q(
    unused_port: int, terminals: list[Terminal]
) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    terminal = top(terminals, "--url", url)
    said = re.compile(
        re.escape(f"cannot reach {url} — retrying in ") + r"(\d+)s\s*\n  connection refused"
    )
    first = terminal.wait_for(lambda f: said.search(f) is not None)
    assert "● disconnected" in first
    # The first wait is 1 s; a longer one means it failed again and keeps trying, with backoff.
    terminal.wait_for(lambda f: (m := said.search(f)) is not None and int(m.group(1)) >= 2)
    assert terminal.proc.poll() is None
    terminal.send(b"q")
    assert terminal.wait(QUIT_WITHIN_S) == 0
    assert_terminal_restored(terminal)


def test_top_started_before_the_service_shows_it_once_it_is_up(
    serve: Serve, unused_port: int, terminals: list[Terminal]
) -> None:
    terminal = top(terminals, "--url", f"http://127.0.0.1:{unused_port}")
    terminal.wait_for(lambda f: "cannot reach" in f)
    serve(port=unused_port)
    frame = terminal.wait_for(shows_data)
    assert "cannot reach" not in frame
    assert figures(frame)["executions"] == "7"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--token", "wrong"], "answered 401: the token is wrong"),
        ([], "answered 401: the token is missing"),
    ],
    ids=["wrong", "missing"],
)
def test_a_refused_token_is_said(
    serve: Serve, terminals: list[Terminal], flags: list[str], said: str
) -> None:
    service = serve(token="right-token")
    terminal = top(terminals, "--url", service.url, *flags)
    frame = terminal.wait_for(lambda f: f"{service.url} {said}" in f and "AGENTGUARD_TOKEN" in f)
    assert "executions" not in frame
    terminal.send(b"q")
    assert terminal.wait(QUIT_WITHIN_S) == 0


def test_the_token_comes_from_the_environment(serve: Serve, terminals: list[Terminal]) -> None:
    service = serve(token="right-token")
    terminal = top(terminals, "--url", service.url, env={"AGENTGUARD_TOKEN": "right-token"})
    frame = terminal.wait_for(shows_data)
    assert figures(frame)["executions"] == "7"


def test_ctrl_c_quits_and_restores_the_terminal(serve: Serve, terminals: list[Terminal]) -> None:
    terminal = top(terminals, "--url", serve().url)
    terminal.wait_for(shows_data)
    terminal.send(b"\x03")
    assert terminal.wait(QUIT_WITHIN_S) == 0
    assert_terminal_restored(terminal)
    assert "Traceback" not in terminal.raw


def test_sigterm_restores_the_terminal(serve: Serve, terminals: list[Terminal]) -> None:
    terminal = top(terminals, "--url", serve().url)
    terminal.wait_for(shows_data)
    terminal.proc.send_signal(signal.SIGTERM)
    assert terminal.wait(QUIT_WITHIN_S) == 143
    assert_terminal_restored(terminal)


@pytest.mark.parametrize(
    "flags",
    [
        ["--url", "ftp://example.com"],
        ["--url", "127.0.0.1:9464"],
        ["--url", "http://127.0.0.1:99999"],
        ["--url", "http://127.0.0.1:9464/?x=1"],
        ["--bogus"],
    ],
)
def test_bad_flags_exit_2_with_one_line(flags: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentguard_cli", "top", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert re.match(r"agentguard( top)?: error: ", done.stderr)


def test_without_a_terminal_it_says_so_in_one_line() -> None:
    forcing = {"FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"}  # rich's overrides
    done = subprocess.run(
        [sys.executable, "-m", "agentguard_cli", "top", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in forcing},
    )
    assert done.returncode == 2
    assert done.stderr == (
        "agentguard top: standard output is not a terminal; "
        "scripts can read http://127.0.0.1:9/api/v1/snapshot instead\n"
    )
