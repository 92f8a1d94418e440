"""``agentguard demo`` end to end, in a subprocess, against its own fake API."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from agentguard_fake import FakeAnthropicServer
from support.redis_server import RedisServer

DEMO = [sys.executable, "-m", "agentguard_cli", "demo", "--duration", "3", "--port", "0"]
TIMEOUT_S = 120

# Every metric the demo's events move (the families of agentguard.metricmap.METRICS that
# its events produce).
PRODUCED = (
    "agentguard_llm_calls_total",
    "agentguard_llm_tokens_total",
    "agentguard_llm_cost_usd_total",
    "agentguard_llm_retries_total",
    "agentguard_llm_call_duration_seconds",
    "agentguard_runs_total",
    "agentguard_run_duration_seconds",
    "agentguard_tool_calls_total",
    "agentguard_tool_call_duration_seconds",
    "agentguard_prompt_cache_saved_usd_total",
    "agentguard_errors_total",
    "agentguard_breaker_state",
    "agentguard_breaker_transitions_total",
    "agentguard_breaker_rejections_total",
    "agentguard_loop_detections_total",
    "agentguard_budget_exceeded_total",
    "agentguard_events_published_total",
    "agentguard_alerts_total",
    "agentguard_run_cost_usd",
)


def recap(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = lines.index("Recap")
    return [line for line in lines[start:] if line.startswith("  ")]


@pytest.fixture(scope="module")
def plain() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, "--seed", "1", "--no-color"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def hold_demo(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], list[str], str]:
    """A demo started with ``--hold 60``, read up to its hold: the process, lines, base URL.

    The caller ends it (SIGINT) and kills it if it is still running.
    """
    proc = subprocess.Popen(
        [*DEMO, *args, "--no-color", "--hold", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("servers stay up"):
                break
        base = next(m.group(1) for line in seen if (m := re.search(r"(http://\S+)/metrics", line)))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, seen, base


@pytest.fixture(scope="module")
def held() -> Held:
    """A second run with the same seed, held open: what it served, printed and exited with."""
    proc, seen, base = hold_demo("--seed", "1")
    try:
        metrics = http_get(base + "/metrics")
        snapshot = json.loads(http_get(base + "/api/v1/snapshot"))
        page = http_get(base + "/")
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Held(metrics, "".join(seen) + rest, proc.returncode, snapshot, page)


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        text: str = response.read().decode()
        return text


@dataclass
class Held:
    metrics: str
    out: str
    status: int
    snapshot: dict[str, Any]
    page: str


def test_demo_runs_and_prints_the_summary_and_recap(
    plain: subprocess.CompletedProcess[str],
) -> None:
    assert plain.returncode == 0, plain.stderr
    assert "Traceback" not in plain.stderr
    out = plain.stdout
    assert "Session Performance Summary" in out
    lines = recap(out)
    assert "  breaker: anthropic: closed -> open (failures 3)" in lines
    assert "  breaker: anthropic: half_open -> closed (failures 0)" in lines
    assert "  loop: check_refund_status: repeat x4 -> warn" in lines
    assert "  loop: check_refund_status: repeat x5 -> stop" in lines
    assert any(line.startswith("  budget crossed: run: $") for line in lines)
    # the rules fired, and their signed webhooks reached the receiver; the breaker's resolved
    assert "  alert received: BreakerOpen firing (breaker=anthropic, severity=critical)" in lines
    assert "  alert received: BreakerOpen resolved (breaker=anthropic, severity=critical)" in lines
    assert any(line.startswith("  alert received: LoopDetected firing") for line in lines)
    assert any(line.startswith("  alert received: BudgetExceeded firing") for line in lines)
    assert re.search(r"breaker\.rejected [1-9]", out)


def test_every_produced_metric_family_is_served(held: Held) -> None:
    metrics = held.metrics
    families = set(re.findall(r"^# TYPE (\S+)", metrics, flags=re.MULTILINE))
    missing = [
        name
        for name in PRODUCED
        if name not in families and name.removesuffix("_total") not in families
    ]
    assert not missing, f"not at /metrics: {missing}"
    assert re.search(r'^agentguard_breaker_transitions_total\{.*to_state="open"', metrics, re.M)
    assert re.search(r'^agentguard_loop_detections_total\{.*action="stop"', metrics, re.M)


def test_ctrl_c_while_holding_ends_cleanly(held: Held) -> None:
    assert held.status == 0
    assert "Session Performance Summary" in held.out


def test_the_dashboard_and_snapshot_are_served(held: Held) -> None:
    assert "<html" in held.page.lower()
    snapshot = held.snapshot
    assert snapshot["total_executions"] > 0
    assert snapshot["endpoints"]["llm:claude-sonnet-4-6"]["requests_total"] > 0
    assert snapshot["breakers"] == {"anthropic": "closed"}
    assert snapshot["loop_detections"] == 2


def test_the_same_seed_gives_the_same_recap(
    plain: subprocess.CompletedProcess[str], held: Held
) -> None:
    assert recap(plain.stdout) == recap(held.out)


@pytest.mark.parametrize(
    "flags",
    [["--duration", "soon"], ["--port", "70000"], ["--bogus"], ["--duration", "0"]],
)
def test_bad_flags_exit_2_with_one_line(flags: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentguard_cli", "demo", *flags],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert re.match(r"agentguard( demo)?: error: ", done.stderr)


def test_a_busy_port_exits_2_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "agentguard_cli", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr == (
        f"agentguard demo: port {port} is already in use; "
        "pass --port 0 for a free port, or another --port\n"
    )


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentguard_cli", "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0
    assert re.fullmatch(r"agentguard \d+\.\d+\.\d+\S*\n", done.stdout)


def test_receive_passes_its_arguments_to_the_receiver() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentguard_cli", "receive", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0
    assert "--secret" in done.stdout
    assert done.stdout.startswith("usage: agentguard receive")


def test_workers_aggregate_through_redis(redis_server: RedisServer) -> None:
    done = subprocess.run(
        [*DEMO, "--no-color", "--redis", redis_server.url, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stdout[-2000:]
    lines = done.stdout.splitlines()
    # The final table fits 80 columns and cuts no number (issue 16: "$0.36…").
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table), table
    assert not any("…" in line for line in table), table
    assert any(re.search(r"│ +\$\d+\.\d{4} │", line) for line in table), table
    assert "  workers: 2 of 2 reported; every count reached Redis" in lines
    runs = next(line for line in lines if line.startswith("  runs: "))
    counted, in_redis = re.findall(r"LLM calls: (\d+) \(in Redis: (\d+)\)", runs)[0]
    assert counted == in_redis and int(counted) > 0
    # central rules over Redis: windowed counts are caught whatever the timing (a breaker open
    # for less than an evaluation interval may be missed, as by any sampling of a gauge)
    assert any(line.startswith("  alert received: LoopDetected firing") for line in lines)
    assert any(line.startswith("  alert received: BudgetExceeded firing") for line in lines)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "2"], "--redis URL and --workers N go together"),
        (["--redis", "redis://127.0.0.1:1/0"], "--redis URL and --workers N go together"),
        (["--redis", "http://x", "--workers", "2"], "redis://"),
        (["--redis", "redis://127.0.0.1:1/0", "--workers", "2"], "cannot reach Redis"),
    ],
)
def test_bad_worker_options_exit_2_with_one_line(flags: list[str], message: str) -> None:
    done = subprocess.run(
        [*DEMO, *flags], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_live_talks_to_whatever_the_sdk_is_configured_for() -> None:
    """--live uses anthropic.Anthropic() as the environment sets it up: here, a fake server."""
    with FakeAnthropicServer(seed=3) as api:
        env = {**os.environ, "ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": api.url}
        done = subprocess.run(
            [*DEMO, "--no-color", "--live"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            env=env,
        )
        requests = len(api.requests)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "live:          the real Messages API, model claude-sonnet-4-6" in done.stdout
    assert "  runs: 3 ok, 0 failed; LLM calls: 3" in recap(done.stdout)
    assert requests == 3  # the live session made its calls to the configured API, only there


def test_live_needs_an_api_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(
        [*DEMO, "--live"], capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env=env
    )
    assert done.returncode == 2
    assert "--live calls the real API: set ANTHROPIC_API_KEY first" in done.stderr
    assert len(done.stderr.splitlines()) == 1
