"""With only opentelemetry-api (no SDK importable), the subscriber attaches and costs nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockSdk(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
            return None

    sys.meta_path.insert(0, BlockSdk())

    from agentguard import Bus
    from agentguard.context import run_context
    from agentguard.events import LLMCallFinished, LoopDetected, RunFinished, RunStarted
    from agentguard.events import ToolCallFinished
    from agentguard_otel import OTelSubscriber

    bus = Bus()
    subscriber = OTelSubscriber()
    subscriber.attach(bus)
    published = 0
    while published < 10_000:
        with run_context("support"):
            bus.publish(RunStarted()); published += 1
            for _ in range(3):
                bus.publish(LLMCallFinished(model="claude-sonnet-4-6", input_tokens=10,
                                            output_tokens=5, duration_s=0.1))
                bus.publish(ToolCallFinished(tool="search", duration_s=0.01))
                published += 2
            bus.publish(LoopDetected(tool="search", pattern="repeat", repeats=3, action="warn"))
            bus.publish(RunFinished(duration_s=1.0, ok=True)); published += 2
    subscriber.close()
    assert not any(m.startswith("opentelemetry.sdk") for m in sys.modules), "SDK imported"
    print(published, bus.subscriber_errors(), subscriber.counts())
    """
)


def test_without_the_sdk_attaching_and_10k_events_work() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    published, errors, counts = result.stdout.split(" ", 2)
    assert int(published) >= 10_000
    assert (errors, counts.strip()) == ("{}", "{}"), result.stdout
    assert result.stderr == ""
