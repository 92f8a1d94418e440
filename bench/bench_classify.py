"""classify(): nanoseconds per call for the exceptions an agent meets most."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
from anthropic._error_classes import make_status_error

from agentguard import Bus
from agentguard_classify import Classified, classified, classify
from bench._harness import Report, ns_per_call

COMMAND = "nox -s bench -- classify   (or: python -m bench classify)"


def _api_error(status: int, error_type: str, headers: dict[str, str]) -> BaseException:
    """The SDK's exception for an error response, built as the SDK builds it."""
    body = {"type": "error", "error": {"type": error_type, "message": "m"}}
    response = httpx2.Response(
        status,
        request=httpx2.Request("POST", "https://api.anthropic.com/v1/messages"),
        json=body,
        headers=headers,
    )
    return make_status_error(f"Error code: {status} - {body}", body=body, response=response)


class _UnknownError(Exception):
    pass


def run() -> Report:
    """Measure and return the report."""
    report = Report("classify: ns per call (issue 4)", COMMAND)
    cases: list[tuple[str, BaseException]] = [
        (
            "anthropic.RateLimitError (429, retry-after: 2)",
            _api_error(429, "rate_limit_error", {"retry-after": "2"}),
        ),
        ("anthropic.OverloadedError (529)", _api_error(529, "overloaded_error", {})),
        ("TimeoutError", TimeoutError()),
        ("an unknown exception (no rule, no status, no cause)", _UnknownError("?")),
    ]
    for what, exc in cases:
        classify(exc)  # the first sight of a class builds its entry; measure the steady state
        report.measured(
            f"classify {what}",
            ns_per_call("classify(exc)", {"classify": classify, "exc": exc}, number=50_000),
        )
    _guard(report)
    return report


def _guard(report: Report) -> None:
    """``classified`` around a call that returns, as a decorator and as a ``with`` block."""
    guard = classified(source="tool", bus=Bus())

    def work() -> int:
        return 1

    wrapped = guard(work)
    report.measured("@classified function that returns", ns_per_call(wrapped, number=200_000))
    report.measured(
        "with classified(...): a block that returns",
        ns_per_call(_block(guard, work), number=200_000),
    )
    report.measured("    reference: the bare function", ns_per_call(work, number=200_000))


def _block(guard: Classified, work: Callable[[], int]) -> Callable[[], int]:
    def block() -> int:
        with guard:
            return work()

    return block
