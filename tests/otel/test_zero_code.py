"""``opentelemetry-instrument`` with console exporters on an app that imports nothing of ours.

Each test runs the command a user runs, in a subprocess, on a small script whose anthropic
client talks HTTP to the fake Messages API (its URL from the environment), and reads the
spans and metrics the console exporters print.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard_fake import FakeAnthropicServer

_BIN = Path(sys.executable).parent
_COMMAND = [
    str(_BIN / "opentelemetry-instrument"),
    "--traces_exporter",
    "console",
    "--metrics_exporter",
    "console",
    "python",
]

_PLAIN_APP = """
import os

import anthropic

client = anthropic.Anthropic(base_url=os.environ["ANTHROPIC_BASE_URL"], api_key="test-key")
ask = dict(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
client.messages.create(**ask)
with client.messages.stream(**ask) as stream:
    stream.get_final_message()
print("app done")
"""

_AGENT_APP = """
import os

import anthropic
from agentguard_trace import tool, traced

client = anthropic.Anthropic(base_url=os.environ["ANTHROPIC_BASE_URL"], api_key="test-key")


@tool
def lookup(order: str) -> str:
    return f"order {order}: shipped"


@traced(agent="support")
def support() -> None:
    ask = dict(model="claude-sonnet-4-6", max_tokens=64)
    client.messages.create(**ask, messages=[{"role": "user", "content": "where is 42?"}])
    lookup("42")
    client.messages.create(**ask, messages=[{"role": "user", "content": "thanks"}])


support()
print("app done")
"""


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(seed=5) as fake:
        yield fake


class Output:
    """What the console exporters printed: spans and metric points."""

    def __init__(self, stdout: str) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        decoder = json.JSONDecoder()
        position = 0
        while (start := stdout.find("\n{", position)) != -1:
            document, position = decoder.raw_decode(stdout, start + 1)
            if "resource_metrics" in document:
                self.metrics.extend(
                    {"scope": scope["scope"]["name"], **metric}
                    for resource in document["resource_metrics"]
                    for scope in resource["scope_metrics"]
                    for metric in scope["metrics"]
                )
            else:
                self.spans.append(document)

    def client_spans(self) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["kind"] == "SpanKind.CLIENT"]

    def points(self, name: str) -> list[dict[str, Any]]:
        return [
            point
            for metric in self.metrics
            if metric["scope"] == "agentguard_otel" and metric["name"] == name
            for point in metric["data"]["data_points"]
        ]


def _run(app: str, tmp_path: Path, server: FakeAnthropicServer, **env: str) -> Output:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(app))
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_"))},
        "PATH": f"{_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANTHROPIC_BASE_URL": server.url,
        **env,
    }
    done = subprocess.run(
        [*_COMMAND, str(script)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "app done" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    return Output("\n" + done.stdout)


def test_with_the_sdks_spans_off_each_call_is_our_chat_span_with_cost(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    out = _run(_PLAIN_APP, tmp_path, server, ANTHROPIC_OPEN_TELEMETRY="false")

    spans = out.client_spans()
    assert [s["name"] for s in spans] == ["chat claude-sonnet-4-6"] * 2
    for span in spans:
        attributes = span["attributes"]
        assert attributes["gen_ai.provider.name"] == "anthropic"
        assert attributes["agentguard.cost_usd"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0
        assert attributes["anthropic.request.id"].startswith("req_")
    outputs = [p for p in out.points("gen_ai.client.token.usage") if _is_output(p)]
    assert sum(p["sum"] for p in outputs) == sum(
        s["attributes"]["gen_ai.usage.output_tokens"] for s in spans
    )
    assert sum(p["count"] for p in out.points("gen_ai.client.operation.duration")) == 2


def test_with_the_sdks_spans_on_each_call_is_one_client_span_and_our_metrics(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    out = _run(_PLAIN_APP, tmp_path, server)

    spans = out.client_spans()
    assert [s["name"] for s in spans] == ["anthropic.messages.create"] * 2  # not 4
    outputs = [p for p in out.points("gen_ai.client.token.usage") if _is_output(p)]
    assert sum(p["sum"] for p in outputs) == sum(
        s["attributes"]["gen_ai.usage.output_tokens"] for s in spans
    )
    assert sum(p["count"] for p in out.points("gen_ai.client.operation.duration")) == 2


def test_a_traced_agent_gets_run_and_tool_spans_parenting_the_sdks_call_spans(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    out = _run(_AGENT_APP, tmp_path, server)

    (run,) = [s for s in out.spans if s["name"] == "invoke_agent support"]
    (tool,) = [s for s in out.spans if s["name"] == "execute_tool lookup"]
    calls = out.client_spans()
    assert len(calls) == 2
    run_id = run["context"]["span_id"]
    assert {s["parent_id"] for s in [tool, *calls]} == {run_id}
    assert run["attributes"]["agentguard.cost_usd"] > 0


def test_disabled_by_the_environment_adds_nothing(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    out = _run(_PLAIN_APP, tmp_path, server, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="agentguard")

    assert [s["name"] for s in out.client_spans()] == ["anthropic.messages.create"] * 2
    assert out.points("gen_ai.client.token.usage") == []


def _is_output(point: dict[str, Any]) -> bool:
    return bool(point["attributes"]["gen_ai.token.type"] == "output")
