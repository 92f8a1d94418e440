"""Zero code: ``opentelemetry-instrument python app.py`` measures an app that never imports us."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentguard_fake import FakeAnthropicServer, Reply

# The seed's kind of app: plain anthropic, no agentguard import, no OpenTelemetry code.
APP = """
import anthropic

client = anthropic.Anthropic(max_retries=0)
reply = client.messages.create(
    model="claude-opus-4-8", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
)
print("answered:", reply.content[0].text)
"""


def run_instrumented(tmp_path: Path, server: FakeAnthropicServer, **env: str) -> str:
    app = tmp_path / "app.py"
    app.write_text(APP)
    command = Path(sys.executable).parent / "opentelemetry-instrument"
    result = subprocess.run(
        [
            str(command),
            "--traces_exporter",
            "console",
            "--metrics_exporter",
            "none",
            "--logs_exporter",
            "none",
            sys.executable,
            str(app),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": "test-key",
            "OTEL_SERVICE_NAME": "seed-app",
            **env,
        },
    )
    assert result.returncode == 0, result.stderr
    assert "answered:" in result.stdout
    return result.stdout


def spans(stdout: str) -> list[dict[str, Any]]:
    """The console exporter's spans: JSON objects, one after another."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    at = stdout.find("{")
    while at != -1:
        try:
            value, end = decoder.raw_decode(stdout, at)
        except ValueError:
            at = stdout.find("{", at + 1)
            continue
        if isinstance(value, dict) and "name" in value and "context" in value:
            found.append(value)
        at = stdout.find("{", end)
    return found


def test_an_app_that_never_imports_agentguard_gets_priced_chat_spans(tmp_path: Path) -> None:
    with FakeAnthropicServer(seed=3) as server:
        server.enqueue(Reply(text="Hello.", input_tokens=1_000, output_tokens=100))
        chat = [
            s for s in spans(run_instrumented(tmp_path, server)) if s["name"].startswith("chat")
        ]
    assert len(chat) == 1, chat
    attributes = chat[0]["attributes"]
    assert chat[0]["name"] == "chat claude-opus-4-8"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.usage.input_tokens"] == 1_000
    assert attributes["gen_ai.usage.output_tokens"] == 100
    assert attributes["agentguard.cost_usd"] == pytest.approx((1_000 * 5 + 100 * 25) / 1e6)


def test_the_usual_switch_turns_it_off(tmp_path: Path) -> None:
    with FakeAnthropicServer(seed=3) as server:
        server.enqueue(Reply(text="Hello."))
        stdout = run_instrumented(
            tmp_path, server, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="agentguard"
        )
    assert not [s for s in spans(stdout) if s["name"].startswith("chat")]
