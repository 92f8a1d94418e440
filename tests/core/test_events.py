from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from typing import Any

import pytest

from agentguard import events, run_context
from agentguard.events import (
    EVENT_TYPES,
    EVENTS_BY_KIND,
    AlertStateChanged,
    ErrorClassified,
    Event,
    LLMCallFinished,
    ToolCallFinished,
)

# DESIGN.md section 3: kind, class and the fields beyond the common ones (which may grow,
# never be renamed). ErrorClassified's "kind" is error_kind: see its field docstring.
CATALOG = {
    "run.started": ("RunStarted", set()),
    "run.finished": ("RunFinished", {"duration_s", "ok", "error_kind", "cost_usd"}),
    "llm.call": (
        "LLMCallFinished",
        {
            "provider",
            "model",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "cost_usd",
            "duration_s",
            "time_to_first_token_s",
            "streamed",
            "ok",
            "error_kind",
            "stop_reason",
            "request_id",
            "retries",
        },
    ),
    "tool.call": ("ToolCallFinished", {"tool", "duration_s", "ok", "error_kind"}),
    "cache.usage": (
        "PromptCacheUsage",
        {"model", "hit_ratio", "read_tokens", "write_tokens", "uncached_tokens", "saved_usd"},
    ),
    "cache.regressed": ("PromptCacheRegressed", {"model", "baseline_ratio", "current_ratio"}),
    "error.classified": (
        "ErrorClassified",
        {"source", "error_kind", "retryable", "exception_type", "status_code", "retry_after_s"},
    ),
    "breaker.state": (
        "BreakerStateChanged",
        {"breaker", "old_state", "new_state", "failure_count"},
    ),
    "breaker.rejected": ("BreakerRejected", {"breaker"}),
    "loop.detected": ("LoopDetected", {"tool", "pattern", "repeats", "action"}),
    "budget.exceeded": ("BudgetExceeded", {"scope", "limit_usd", "spent_usd"}),
    "alert.state": ("AlertStateChanged", {"rule", "state", "value", "labels"}),
}
COMMON = {"at_unix_s", "run_id", "agent", "session_id"}


def test_the_catalog_is_design_section_3() -> None:
    assert {cls.kind: cls.__name__ for cls in EVENT_TYPES} == {
        kind: name for kind, (name, _) in CATALOG.items()
    }
    for cls in EVENT_TYPES:
        fields = {f.name for f in dataclasses.fields(cls)}
        assert COMMON | CATALOG[cls.kind][1] <= fields, cls.__name__


def test_the_union_is_closed_over_the_catalog() -> None:
    assert set(typing.get_args(Event)) == set(EVENT_TYPES)
    assert dict(EVENTS_BY_KIND) == {cls.kind: cls for cls in EVENT_TYPES}


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.kind)
def test_events_are_frozen_slotted_and_keyword_only(cls: type[Event]) -> None:
    params = cls.__dataclass_params__  # type: ignore[union-attr]  # every event is a dataclass
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert all(f.kw_only for f in dataclasses.fields(cls))
    with pytest.raises(TypeError):
        cls("positional")  # type: ignore[call-arg, arg-type]  # the point of the test


def test_every_field_has_a_docstring() -> None:
    tree = ast.parse(inspect.getsource(events))
    undocumented = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        body = node.body
        for i, statement in enumerate(body):
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                following = body[i + 1] if i + 1 < len(body) else None
                documented = (
                    isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                )
                is_kind_value = statement.target.id == "kind" and statement.value is not None
                if not documented and not is_kind_value:
                    undocumented.append(f"{node.name}.{statement.target.id}")
    assert not undocumented


def test_events_cannot_be_changed() -> None:
    event = ToolCallFinished(tool="search", duration_s=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.tool = "other"  # type: ignore[misc]  # the point of the test


def test_common_fields_come_from_the_clock_and_the_run_context() -> None:
    outside = ToolCallFinished(tool="search", duration_s=0.5)
    assert (outside.run_id, outside.agent, outside.session_id) == (None, None, None)
    assert outside.at_unix_s > 1.7e9
    with run_context("support", session_id="s-1") as run:
        inside = ToolCallFinished(tool="search", duration_s=0.5)
    assert (inside.run_id, inside.agent, inside.session_id) == (run.run_id, "support", "s-1")


def test_context_tokens_add_up_every_kind_of_input() -> None:
    call = LLMCallFinished(
        model="m",
        duration_s=1.0,
        input_tokens=10,
        cache_read_tokens=100,
        cache_write_5m_tokens=20,
        cache_write_1h_tokens=5,
    )
    assert call.context_tokens == 135


def test_error_classified_names_its_kind_error_kind() -> None:
    event = ErrorClassified(
        source="llm", error_kind="rate_limited", retryable=True, exception_type="RateLimitError"
    )
    assert event.kind == "error.classified"
    assert event.error_kind == "rate_limited"


def test_explicit_common_fields_win_over_the_run_context() -> None:
    with run_context("support"):
        event = ToolCallFinished(
            tool="t", duration_s=1.0, run_id=None, agent="other", session_id="s", at_unix_s=5.0
        )
    assert (event.run_id, event.agent, event.session_id, event.at_unix_s) == (
        None,
        "other",
        "s",
        5.0,
    )


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.kind)
def test_missing_or_unknown_arguments_are_type_errors(cls: type[Event]) -> None:
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    build: Any = cls  # called with wrong arguments on purpose
    if required:
        with pytest.raises(TypeError, match=required[0]):
            build()
    with pytest.raises(TypeError, match="no_such_field"):
        build(no_such_field=1)


def test_mutable_defaults_are_fresh_per_event() -> None:
    first = AlertStateChanged(rule="r", state="firing", value=1.0)
    second = AlertStateChanged(rule="r", state="firing", value=1.0)
    assert first.labels == {}
    assert first.labels is not second.labels
