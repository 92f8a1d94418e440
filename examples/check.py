"""Run every example and check what it prints: ``python examples/check.py [NAME ...]``.

Each example is run as its own process from the repository root, as a user would run it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

EXPECTED: dict[str, list[str]] = {
    "alerts_quickstart.py": [
        r"^the loop guard stopped the run: tool 'search' is looping",
        r'^notified: firing \{\}:\{alertname="LoopDetected"\}$',
        r"^receiver has: firing agent researcher went round in a loop on tool search",
        r"^delivered 1, given up 0$",
    ],
    "alerts_receive.py": [
        r"^agentguard receive --secret whsec_\.\.\. --port \d+: listening on http://127\.0\.0\.1:\d+$",
        r"^the run was stopped: the run budget of \$0\.0100 is spent \(\$0\.0120\)",
        r'^notified: firing \{\}:\{alertname="BudgetExceeded"\}$',
        r"^receiver has: firing BudgetExceeded: agent support crossed its run budget",
        r"^a delivery signed with another secret: 401 BAD_SIGNATURE$",
        r"^receiver log: INFO: agentguard_receiver\.alerts: FIRING BudgetExceeded "
        r"\{agent=support scope=run severity=warning\}",
    ],
    "bus_quickstart.py": [
        r"^tool\.call from agent=support: \{\"schema\":1,\"kind\":\"tool\.call\"",
        r"^tool\.call from agent=support: .*$",
    ],
    "prompt_cache.py": [
        r"^call: hit ratio 0\.00, read 0, written 1400, uncached \d+, saved \$-0\.00105$",
        r"^call: hit ratio 1\.00, read 1400, written 0, uncached \d+, saved \$\+0\.00378$",
        r"^claude-sonnet-4-6: 4 calls, hit ratio 0\.75, saved \$0\.01029$",
    ],
    "otel_console.py": [
        r"^Your order 1234 shipped yesterday\.$",
        r'^    "name": "chat claude-sonnet-4-6",$',
        r'^    "name": "execute_tool lookup_order",$',
        r'^    "name": "invoke_agent support",$',
        r'"name": "gen_ai\.client\.token\.usage"',
        r'"name": "gen_ai\.client\.operation\.duration"',
    ],
    "quickstart.py": [
        r"^Your order 1234 shipped yesterday\.$",
        r'^agentguard_llm_calls_total\{model="claude-sonnet-4-6",status="ok"\} 1\.0$',
        r'^agentguard_llm_tokens_total\{model="claude-sonnet-4-6",token_type="input"\} 1200\.0$',
        r'^agentguard_llm_tokens_total\{model="claude-sonnet-4-6",token_type="output"\} 80\.0$',
        r'^agentguard_llm_cost_usd_total\{component="input",model="claude-sonnet-4-6"\} 0\.0036$',
        r'^agentguard_llm_cost_usd_total\{component="output",model="claude-sonnet-4-6"\} 0\.0012$',
        r'^agentguard_runs_total\{agent="support",status="ok"\} 1\.0$',
        r'^agentguard_tool_calls_total\{status="ok",tool="lookup_order"\} 1\.0$',
    ],
    "redis_workers.py": [
        r"^redis: ",
        r"^agentguard serve: http://127\.0\.0\.1:\d+ \(prefix 'example-[0-9a-f]{8}'\)$",
        r"^worker 1 \(pid \d+\): 2 runs, 2 LLM calls \(1 failed\), 2 tool calls, \$0\.006000, "
        r"flushed: yes$",
        r"^worker 2 \(pid \d+\): 3 runs, 3 LLM calls \(1 failed\), 3 tool calls, \$0\.012000, "
        r"flushed: yes$",
        r"^worker 3 \(pid \d+\): 4 runs, 4 LLM calls \(1 failed\), 4 tool calls, \$0\.018000, "
        r"flushed: yes$",
        r"^3 workers published: 9 LLM calls \(3 failed\), 9 tool calls, \$0\.036000$",
        r"^/api/v1/snapshot: total_executions 18, error_count 3, cost_usd_total \$0\.036000, "
        r"active_executions 0$",
        r"^  llm:claude-sonnet-4-6: 9 requests$",
        r"^  tool:lookup_order: 9 requests$",
        r'^/metrics: agentguard_llm_calls_total\{model="claude-sonnet-4-6",status="error"\} 3\.0$',
        r'^/metrics: agentguard_llm_calls_total\{model="claude-sonnet-4-6",status="ok"\} 6\.0$',
        r'^/metrics: agentguard_runs_total\{agent="support",status="error"\} 3\.0$',
        r'^/metrics: agentguard_runs_total\{agent="support",status="ok"\} 6\.0$',
        r"^the service's totals equal what the workers published: yes$",
        r"^agentguard serve stopped \(exit status 0\)$",
    ],
    "trace_quickstart.py": [
        r"^Your order 1234 shipped yesterday\.$",
        r"^Session Performance Summary$",
        r"^Runs: +1 \(1 succeeded, 0 failed\)$",
        r"^Steps: +3 \(2 LLM calls, 1 tool call, 0 failed\)$",
        r"^  lookup_order +1 +100\.0%",
        r"^  claude-sonnet-4-6 +2 +100\.0%",
        r"^  Total +\d+ +\$0\.\d{4}$",
    ],
}
"""For each example, patterns that must each match a line of its output (in order)."""

TIMEOUT_S = 120


def check(name: str) -> list[str]:
    """Run one example; return what went wrong (nothing when it passed)."""
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 (our own examples, run with our interpreter)
        [sys.executable, str(HERE / name)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    took = time.monotonic() - started
    problems = []
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}:\n{result.stderr}")
    lines = result.stdout.splitlines()
    position = 0
    for pattern in EXPECTED[name]:
        while position < len(lines) and not re.search(pattern, lines[position]):
            position += 1
        if position == len(lines):
            problems.append(f"no line matching {pattern!r} (in order) in:\n{result.stdout}")
            break
        position += 1
    print(f"{'ok  ' if not problems else 'FAIL'} {name} ({took:.1f} s)")
    return problems


def main(argv: list[str]) -> int:
    examples = sorted(p.name for p in HERE.glob("*.py") if p.name != "check.py")
    unchecked = set(examples) - set(EXPECTED)
    if unchecked:
        print(f"examples without expectations in check.py: {sorted(unchecked)}")
        return 1
    names = argv or examples
    failed = [name for name in names if _report(name, check(name))]
    print(f"{len(names) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _report(name: str, problems: list[str]) -> bool:
    for problem in problems:
        print(f"  {name}: {problem}")
    return bool(problems)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
