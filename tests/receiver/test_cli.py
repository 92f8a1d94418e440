"""``python -m agentguard_receiver``: the command ``agentguard receive`` will run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from agentguard_receiver import main
from receiver.webhooks import (
    ANTHROPIC_SECRET,
    OTHER_SECRET,
    SECRET,
    TOKEN,
    anthropic_event,
    encode,
    notification,
    signed_headers,
)
from support.ports import free_port
from support.waiting import wait_until


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
        health = wait_until(lambda: _health(port, process), 15, "the receiver to start")
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


def _health(port: int, process: subprocess.Popen[bytes]) -> httpx2.Response | None:
    """The receiver's answer to ``/healthz``, or ``None`` while it is not listening yet."""
    try:
        return httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
    except httpx2.TransportError:
        assert process.poll() is None, process.communicate()[1].decode()
        return None


def _serve_and_deliver(args: list[str], env: dict[str, str]) -> tuple[tuple[int, int, int], bytes]:
    """Run the module with ``args`` and ``env``: the statuses of a signed, a bearer and an
    Anthropic delivery, and what it wrote to stderr."""
    port = free_port()
    command = [sys.executable, "-m", "agentguard_receiver", "--port", str(port), *args]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, env=env)
    try:
        wait_until(lambda: _health(port, process), 15, "the receiver to start")
        url = f"http://127.0.0.1:{port}/webhooks/alerts"
        body = encode(notification())
        signed = httpx2.post(url, content=body, headers=signed_headers(body)).status_code
        bearer = httpx2.post(
            url,
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ).status_code
        event = encode(anthropic_event())
        from_anthropic = httpx2.post(
            f"http://127.0.0.1:{port}/webhooks/anthropic",
            content=event,
            headers=signed_headers(event, secret=ANTHROPIC_SECRET),
        ).status_code
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    return (signed, bearer, from_anthropic), stderr


def _environment(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGUARD_RECEIVER_")}
    return {**env, **more}


def test_secrets_and_token_come_from_files_out_of_sight_of_ps(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.write_text(f"# rotated in on Monday\n{OTHER_SECRET}\n\n{SECRET}\n", encoding="utf-8")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n", encoding="utf-8")
    args = ["--secret-file", str(secrets), "--token-file", str(token)]
    statuses, stderr = _serve_and_deliver(args, _environment())
    assert statuses == (200, 200, 401), "no Anthropic key given: that path is closed"
    assert TOKEN.encode() not in stderr and SECRET.removeprefix("whsec_").encode() not in stderr


def test_secrets_and_token_come_from_the_environment() -> None:
    env = _environment(
        AGENTGUARD_RECEIVER_SECRETS=f"{OTHER_SECRET} {SECRET}", AGENTGUARD_RECEIVER_TOKEN=TOKEN
    )
    statuses, _ = _serve_and_deliver([], env)
    assert statuses == (200, 200, 401)


def test_anthropic_keys_come_from_a_file_and_are_never_logged(tmp_path: Path) -> None:
    keys = tmp_path / "anthropic-keys"
    keys.write_text(f"# from the Console, shown once\n{ANTHROPIC_SECRET}\n", encoding="utf-8")
    args = ["--secret", SECRET, "--token", TOKEN, "--anthropic-secret-file", str(keys)]
    statuses, stderr = _serve_and_deliver(args, _environment())
    assert statuses == (200, 200, 200)
    assert ANTHROPIC_SECRET.removeprefix("whsec_").encode() not in stderr
    assert b"became firing AnthropicSessionBudgetReached" in stderr


def test_anthropic_keys_come_from_the_environment_or_the_command_line() -> None:
    env = _environment(
        AGENTGUARD_RECEIVER_SECRETS=SECRET,
        AGENTGUARD_RECEIVER_TOKEN=TOKEN,
        AGENTGUARD_RECEIVER_ANTHROPIC_SECRETS=f"{OTHER_SECRET} {ANTHROPIC_SECRET}",
    )
    assert _serve_and_deliver([], env)[0] == (200, 200, 200)
    # A flag wins over the variable: the variable's key is then not taken.
    flagged = _serve_and_deliver(["--anthropic-secret", OTHER_SECRET], env)[0]
    assert flagged == (200, 200, 401)


def test_anthropic_keys_alone_are_enough_to_start() -> None:
    env = _environment(AGENTGUARD_RECEIVER_ANTHROPIC_SECRETS=ANTHROPIC_SECRET)
    assert _serve_and_deliver([], env)[0] == (401, 401, 200)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--secret-file", "/no/such/file"], "cannot read '/no/such/file'"),
        (["--token", "t", "--token-file", "/dev/null"], "--token or --token-file, not both"),
        (["--token-file", "/dev/null"], "must hold one token on one line"),
        (["--db", "/no/such/folder/alerts.db"], "cannot keep alerts in '/no/such/folder"),
        (["--port", "\u0669\u0664\u0666\u0665"], "expected a port number in digits 0-9"),
        (["--max-connections", "0"], "--max-connections: must be at least 1"),
        (["--header-timeout", "1e3"], "expected seconds in digits 0-9"),
        (["--anthropic-secret-file", "/no/such/keys"], "cannot read '/no/such/keys'"),
        (["--anthropic-secret-file", "/dev/null"], "--anthropic-secret-file '/dev/null' holds no"),
        (["--anthropic-secret", "whsec_c2hvcnQ="], "at least 24 random bytes, this one holds 5"),
    ],
)
def test_bad_sources_exit_with_one_line(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--secret", SECRET, *options])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert "Traceback" not in error


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
