"""The loop guard: ns per ``check`` with small and with 1 KB arguments (issue 4)."""

from __future__ import annotations

from agentguard import Bus
from agentguard.context import run_context
from agentguard_loopguard import LoopGuard
from agentguard_loopguard._canonical import canonical_key, canonical_text
from bench._harness import Report, ns_per_call

COMMAND = "nox -s bench -- loopguard   (or: python -m bench loopguard)"


def _kilobyte_args() -> dict[str, object]:
    return {
        "query": "weather in Lisbon next week" * 4,
        "filters": {"lang": "en", "max_results": 20, "safe": True},
        "context": ["lorem ipsum dolor sit amet " * 2 for _ in range(16)],
    }


def run() -> Report:
    """Measure and return the report."""
    report = Report("loopguard: check per call (issue 4)", COMMAND)
    big = _kilobyte_args()
    size = len(canonical_text(big))
    small = {"query": "weather", "page": 1}
    counter = iter(range(10**9))

    def distinct_small() -> None:
        small["page"] = next(counter)
        guard.check("search", small)

    def distinct_big() -> None:
        big["filters"] = {"page": next(counter)}
        guard.check("search", big)

    guard = LoopGuard(bus=Bus(name="bench"), allow=["search", "status", "poll"])
    with run_context("bench"):
        report.measured(
            "check, small arguments, allow-listed repeat",
            ns_per_call("check('search', small)", {"check": guard.check, "small": small}),
        )
        report.measured(
            f"check, {size} B arguments (JSON), allow-listed repeat",
            ns_per_call("check('search', big)", {"check": guard.check, "big": big}, number=50_000),
        )
        report.measured("check, small arguments, each call distinct", ns_per_call(distinct_small))
        report.measured(
            f"check, {size} B arguments, each call distinct",
            ns_per_call(distinct_big, number=50_000),
        )
        report.measured(
            "check with result, small arguments, allow-listed poll",
            ns_per_call(
                "check('status', small, result='running')",
                {"check": guard.check, "small": {"job": 1}},
            ),
        )
        report.measured(
            "before + after with result, small arguments, allow-listed",
            ns_per_call(
                "after(before('poll', small), result='running')",
                {"before": guard.before, "after": guard.after, "small": {"job": 1}},
            ),
        )
    report.measured(
        "    reference: canonicalize small arguments only",
        ns_per_call("key(small)", {"key": canonical_key, "small": small}),
    )
    report.measured(
        f"    reference: canonicalize {size} B arguments only",
        ns_per_call("key(big)", {"key": canonical_key, "big": big}, number=50_000),
    )
    return report
