"""User rules: what they can say, their precedence, and misuse that fails at once."""

from __future__ import annotations

import logging

import anthropic
import pytest

from agentguard_classify import Classification, Classifier, ErrorKind, classify, default_classifier

from .conftest import ApiError


class QuotaExceededError(Exception):
    pass


class DailyQuotaExceededError(QuotaExceededError):
    pass


def test_a_type_rule_names_the_kind_of_its_instances_and_subclasses() -> None:
    classifier = Classifier()
    classifier.add_rule(QuotaExceededError, "rate_limited")
    result = classifier.classify(DailyQuotaExceededError())
    assert (result.kind, result.retryable) == (ErrorKind.RATE_LIMITED, True)
    assert result.exception_type.endswith("DailyQuotaExceededError")
    assert classify(QuotaExceededError()).kind is ErrorKind.UNKNOWN, "the default is untouched"


def test_retryable_and_when() -> None:
    classifier = Classifier()
    classifier.add_rule(
        QuotaExceededError,
        ErrorKind.SPEND_LIMITED,
        retryable=True,
        when=lambda e: "daily" in str(e),
    )
    assert classifier.classify(QuotaExceededError("daily")).retryable is True
    assert classifier.classify(QuotaExceededError("monthly")).kind is ErrorKind.UNKNOWN


def test_a_tuple_of_types() -> None:
    classifier = Classifier()
    classifier.add_rule((KeyError, IndexError), "tool_error")
    assert classifier.classify(IndexError()).kind is ErrorKind.TOOL_ERROR
    assert classifier.classify(KeyError()).kind is ErrorKind.TOOL_ERROR


def test_rules_outrank_the_built_in_knowledge(api_error: ApiError) -> None:
    classifier = Classifier()
    classifier.add_rule(anthropic.RateLimitError, "overloaded", retryable=False)
    result = classifier.classify(api_error(429, "rate_limit_error", headers={"retry-after": "5"}))
    assert (result.kind, result.retryable) == (ErrorKind.OVERLOADED, False)
    assert (result.status_code, result.retry_after_s) == (429, 5.0), "facts still read"


def test_the_first_matching_rule_wins_in_the_order_added() -> None:
    classifier = Classifier()
    classifier.add_rule(TimeoutError, "tool_error", when=lambda e: bool(e.args))
    classifier.add_rule(lambda e: ErrorKind.CANCELLED if isinstance(e, OSError) else None)
    classifier.add_rule(TimeoutError, "overloaded")
    assert classifier.classify(TimeoutError("with args")).kind is ErrorKind.TOOL_ERROR
    assert classifier.classify(TimeoutError()).kind is ErrorKind.CANCELLED
    assert classifier.classify(ValueError()).kind is ErrorKind.UNKNOWN
    assert len(classifier.rules) == 3


def test_a_rule_added_later_applies_to_types_already_seen() -> None:
    classifier = Classifier()
    assert classifier.classify(QuotaExceededError()).kind is ErrorKind.UNKNOWN
    classifier.add_rule(QuotaExceededError, "rate_limited")
    assert classifier.classify(QuotaExceededError()).kind is ErrorKind.RATE_LIMITED


def test_a_rule_callable_works_as_a_decorator_and_may_return_a_classification() -> None:
    classifier = Classifier()
    answer = Classification(kind=ErrorKind.OVERLOADED, retryable=False, exception_type="mine")

    @classifier.add_rule
    def gateway(exc: BaseException) -> Classification | None:
        return answer if "gateway busy" in str(exc) else None

    assert gateway(RuntimeError("gateway busy")) is answer, "the decorator returns the rule"
    assert classifier.classify(RuntimeError("gateway busy")) is answer
    assert classifier.classify(RuntimeError("other")).kind is ErrorKind.UNKNOWN


def test_a_rule_returning_a_kind_keeps_the_http_facts(api_error: ApiError) -> None:
    classifier = Classifier()
    classifier.add_rule(lambda e: ErrorKind.SPEND_LIMITED)
    result = classifier.classify(api_error(429, "rate_limit_error", headers={"retry-after": "5"}))
    assert (result.kind, result.retryable) == (ErrorKind.SPEND_LIMITED, False)
    assert (result.status_code, result.retry_after_s) == (429, 5.0)


def test_a_failing_rule_is_skipped_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    classifier = Classifier()

    def broken(exc: BaseException) -> ErrorKind | None:
        raise RuntimeError("bug in rule")

    classifier.add_rule(broken)
    classifier.add_rule(lambda e: "timeout")  # type: ignore[type-var]  # misuse under test
    with caplog.at_level(logging.WARNING, logger="agentguard.classify"):
        for _ in range(3):
            assert classifier.classify(TimeoutError()).kind is ErrorKind.TIMEOUT
    assert classifier.rule_errors() == 6
    assert len(caplog.records) == 1, "logged once per episode, not per failure"


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("QuotaExceededError", "timeout"), {}, TypeError),
        ((int, "timeout"), {}, TypeError),
        (((), "timeout"), {}, TypeError),
        (((ValueError, int), "timeout"), {}, TypeError),
        ((QuotaExceededError, "slow"), {}, ValueError),
        ((QuotaExceededError, "TIMEOUT"), {}, ValueError),
        ((QuotaExceededError, 3), {}, TypeError),
        ((QuotaExceededError,), {}, TypeError),
        ((QuotaExceededError, "timeout"), {"retryable": "yes"}, TypeError),
        ((QuotaExceededError, "timeout"), {"when": 3}, TypeError),
        ((lambda e: None, "timeout"), {}, TypeError),
        ((lambda e: None,), {"retryable": True}, TypeError),
        ((42,), {}, TypeError),
    ],
)
def test_bad_rules_fail_at_once(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception]
) -> None:
    classifier = Classifier()
    with pytest.raises(error):
        classifier.add_rule(*args, **kwargs)  # type: ignore[call-overload]  # misuse under test
    assert classifier.rules == ()


def test_a_bad_clock_fails_at_once() -> None:
    with pytest.raises(TypeError, match="clock"):
        Classifier(clock=1.0)  # type: ignore[arg-type]  # misuse under test


def test_classify_uses_the_default_classifier() -> None:
    assert classify(TimeoutError()) == default_classifier.classify(TimeoutError())
