"""``python -m agentguard_receiver``: the command ``agentguard receive`` will run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from agentguard_receiver import main
from receiver.webhooks import SECRET, encode, notification, signed_headers
from support.system import free_port


def test_the_module_serves_until_terminated(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "agentguard_receiver",
        "--secret",
        SECRET,
        "--port",
        str(port),
        "--log-alerts",
    ]
    process = subprocess.Popen([*command, "--db", str(tmp_path / "a.db")], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.05)
        assert health.json() == {"status": "ok"}
        body = encode(notification(alertname="FromTheCommandLine"))
        response = httpx2.post(
            f"http://127.0.0.1:{port}/webhooks/alerts", content=body, headers=signed_headers(body)
        )
        assert response.json()["stored"] == 1
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert SECRET.removeprefix("whsec_").encode() not in stderr
    assert b"agentguard_receiver.alerts: FIRING FromTheCommandLine" in stderr


def test_bad_options_exit_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--secret", "whsec_not base64!"])
    assert exited.value.code == 2
    assert "base64" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--forward", "https://alerts.example.com/"], "--forward needs --forward-secret"),
        (
            ["--forward", "https://127.0.0.1/", "--forward-secret", SECRET],
            "not a public address",
        ),
        (["--handler", "no_such_module_anywhere:f"], "cannot import"),
        (["--handler", "json"], "'package.module:function'"),
        (["--max-body-bytes", "0"], "--max-body-bytes: must be at least 1"),
    ],
)
def test_bad_handler_options_exit_with_a_usage_error(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--secret", SECRET, *options])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
