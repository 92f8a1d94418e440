from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentguard import (
    SCHEMA_VERSION,
    AgentGuardError,
    EventDecodeError,
    EventEncodeError,
    UnknownEventKind,
    UnsupportedSchemaVersion,
    events,
    from_dict,
    from_json,
    run_context,
    to_dict,
    to_json,
)
from agentguard.events import AlertStateChanged, Event, ToolCallFinished
from support.events import any_event


def _events() -> st.SearchStrategy[Event]:
    return any_event()


@given(_events())
def test_every_event_round_trips_through_json(event: Event) -> None:
    assert from_json(to_json(event)) == event


@given(_events())
def test_documents_carry_schema_kind_and_every_field(event: Event) -> None:
    document = json.loads(to_json(event))
    assert document["schema"] == SCHEMA_VERSION
    assert document["kind"] == event.kind
    assert set(document) == {"schema", "kind"} | {f.name for f in dataclasses.fields(event)}


def _document(**overrides: object) -> dict[str, object]:
    document = to_dict(ToolCallFinished(tool="search", duration_s=0.25, at_unix_s=1.0e9))
    document.update(overrides)
    return document


def test_decoding_never_reads_the_run_context_or_the_clock() -> None:
    document = _document()
    with run_context("other-agent"):
        decoded = from_dict(document)
    assert decoded == ToolCallFinished(
        tool="search",
        duration_s=0.25,
        at_unix_s=1.0e9,
        run_id=None,
        agent=None,
        session_id=None,
    )


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(UnknownEventKind, match=r"unknown event kind 'tool\.maybe'") as info:
        from_dict(_document(kind="tool.maybe"))
    assert isinstance(info.value, AgentGuardError)
    assert isinstance(info.value, ValueError)


def test_newer_schema_version_says_to_upgrade() -> None:
    with pytest.raises(UnsupportedSchemaVersion, match="upgrade agentguard") as info:
        from_json(json.dumps(_document(schema=SCHEMA_VERSION + 1)))
    assert info.value.version == SCHEMA_VERSION + 1


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        (_document(duration_s="fast"), "duration_s", "must be a finite number"),
        (_document(ok=1), "ok", "must be a boolean"),
        (_document(tool=None), "tool", "must be a string"),
        (_document(run_id=7), "run_id", "must be a string or null"),
        (_document(extra=1), "extra", r"has no field 'extra'"),
        ({k: v for k, v in _document().items() if k != "tool"}, "tool", "missing field 'tool'"),
        ({k: v for k, v in _document().items() if k != "run_id"}, "run_id", "missing field"),
        ({k: v for k, v in _document().items() if k != "schema"}, "schema", "no 'schema'"),
        ({k: v for k, v in _document().items() if k != "kind"}, "kind", "no 'kind'"),
        (_document(schema="1"), "schema", "positive integer"),
        (_document(schema=True), "schema", "positive integer"),
    ],
)
def test_bad_payloads_name_the_field(document: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(EventDecodeError, match=words) as info:
        from_dict(document)
    assert info.value.field == field


def test_integers_do_not_accept_booleans_and_floats_accept_integers() -> None:
    call = to_dict(events.LLMCallFinished(model="m", duration_s=1.0))
    with pytest.raises(EventDecodeError, match="input_tokens"):
        from_dict({**call, "input_tokens": True})
    decoded = from_dict({**call, "duration_s": 2})
    assert isinstance(decoded, events.LLMCallFinished)
    assert decoded.duration_s == 2.0
    assert type(decoded.duration_s) is float


def test_literals_are_checked() -> None:
    document = to_dict(events.LoopDetected(tool="t", pattern="cycle", repeats=3, action="warn"))
    with pytest.raises(EventDecodeError, match="'warn' or 'stop'"):
        from_dict({**document, "action": "explode"})


def test_labels_must_be_strings() -> None:
    document = to_dict(AlertStateChanged(rule="r", state="firing", value=1.0, labels={"a": "b"}))
    with pytest.raises(EventDecodeError, match="labels"):
        from_dict({**document, "labels": {"a": 1}})


@pytest.mark.parametrize("text", ["", "[1]", "{", b"\xff", '{"schema": NaN}', "null"])
def test_text_that_is_not_an_event_document(text: str | bytes) -> None:
    with pytest.raises(EventDecodeError):
        from_json(text)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_when_encoding(value: float) -> None:
    with pytest.raises(EventEncodeError, match="duration_s") as info:
        to_json(ToolCallFinished(tool="t", duration_s=value))
    assert info.value.field == "duration_s"


def test_encoding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected an event"):
        to_json(object())  # type: ignore[arg-type]  # the point of the test


def test_labels_are_a_plain_mapping_after_decoding() -> None:
    event = AlertStateChanged(rule="r", state="resolved", value=None, labels={"ü": '\n"x"'})
    decoded = from_json(to_json(event))
    assert decoded == event
