"""The loop guard: ns per ``check`` with small and 1 KB arguments (issue 4), and with huge ones.

Issue 19: ``check`` on a 10 MB string, a million-int list, a 200,000-key dict took 40 to
150 ms (the whole value went through the JSON encoder); it must stay within about 1 ms
whatever the arguments. The reference is what the whole value costs to encode, measured in
the same run. An object whose ``repr`` is 50 MB is reported beside the ``repr`` alone, which
is the object's own cost and no bound can avoid.
"""

from __future__ import annotations

import json

from agentguard import Bus
from agentguard.context import run_context
from agentguard_loopguard import LoopGuard
from agentguard_loopguard._canonical import canonical_key, canonical_text
from bench._harness import Report, ns_per_call

COMMAND = "nox -s bench -- loopguard   (or: python -m bench loopguard)"
HUGE_CHECK_MS = 1.0
"""The most one ``check`` may take on huge arguments (issue 19)."""


class _HugeRepr:
    def __repr__(self) -> str:
        return "x" * 50_000_000


def _huge(report: Report, guard: LoopGuard) -> None:
    """``check`` on huge arguments against encoding them whole (the old fast path)."""
    cases: dict[str, object] = {
        "10 MB string": {"q": "a" * 10_000_000},
        "1M-int list": {"ids": list(range(1_000_000))},
        "200k-key dict": {f"k{i}": i for i in range(200_000)},
    }
    encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    for what, args in cases.items():
        ns = ns_per_call("check('search', args)", {"check": guard.check, "args": args}, number=50)
        whole = ns_per_call("encode(args)", {"encode": encode, "args": args}, number=3, repeat=3)
        report.target(f"check, {what}", ns / 1e6, HUGE_CHECK_MS, "ms")
        report.lines.append(
            f"  {'    reference: JSON-encode it whole':<58} {whole / 1e6:10.3g} ms  "
            f"(check / whole: {ns / whole:.4f} x)"
        )
    obj = {"obj": _HugeRepr()}
    ns = ns_per_call(
        "check('search', args)", {"check": guard.check, "args": obj}, number=5, repeat=3
    )
    alone = ns_per_call("repr(o)", {"o": obj["obj"]}, number=5, repeat=3)
    own = "    reference: the repr alone (the object's own cost)"
    report.lines.append(f"  {'check, an object with a 50 MB repr':<58} {ns / 1e6:10.3g} ms")
    report.lines.append(f"  {own:<58} {alone / 1e6:10.3g} ms")


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
        _huge(report, guard)
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
