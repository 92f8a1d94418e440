"""``agentguard demo`` end to end, in a subprocess, against its own fake API."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

DEMO = [sys.executable, "-m", "agentguard_cli", "demo", "--duration", "3", "--port", "0"]
TIMEOUT_S = 120

# Every metric the demo's events move (the families of agentguard.metricmap.METRICS that
# its events produce; alerts are not produced yet).
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


@pytest.fixture(scope="module")
def held() -> tuple[str, str, int]:
    """A second run with the same seed, held open: its /metrics text, stdout and exit status."""
    proc = subprocess.Popen(
        [*DEMO, "--seed", "1", "--no-color", "--hold", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("servers stay up"):
                break
        url = next(m.group(0) for line in seen if (m := re.search(r"http://\S+/metrics", line)))
        with urllib.request.urlopen(url, timeout=10) as response:
            metrics = response.read().decode()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return metrics, "".join(seen) + rest, proc.returncode


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
    assert "  alert rules: arrive with agentguard-alerts" in lines
    assert re.search(r"breaker\.rejected [1-9]", out)


def test_every_produced_metric_family_is_served(held: tuple[str, str, int]) -> None:
    metrics, _, _ = held
    families = set(re.findall(r"^# TYPE (\S+)", metrics, flags=re.MULTILINE))
    missing = [
        name
        for name in PRODUCED
        if name not in families and name.removesuffix("_total") not in families
    ]
    assert not missing, f"not at /metrics: {missing}"
    assert re.search(r'^agentguard_breaker_transitions_total\{.*to_state="open"', metrics, re.M)
    assert re.search(r'^agentguard_loop_detections_total\{.*action="stop"', metrics, re.M)


def test_ctrl_c_while_holding_ends_cleanly(held: tuple[str, str, int]) -> None:
    _, out, status = held
    assert status == 0
    assert "Session Performance Summary" in out


def test_the_same_seed_gives_the_same_recap(
    plain: subprocess.CompletedProcess[str], held: tuple[str, str, int]
) -> None:
    assert recap(plain.stdout) == recap(held[1])


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
