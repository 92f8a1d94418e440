"""``read_usage``: the one reader of an Anthropic ``usage`` object (the tracer's and others')."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic

from agentguard_trace import usage as usage_module
from agentguard_trace.usage import Usage, read_usage

if TYPE_CHECKING:
    import pytest


def test_a_decoded_dict_and_the_sdks_model_read_the_same() -> None:
    raw = {
        "input_tokens": 12,
        "output_tokens": 30,
        "cache_read_input_tokens": 900,
        "cache_creation_input_tokens": 70,
        "cache_creation": {"ephemeral_5m_input_tokens": 50, "ephemeral_1h_input_tokens": 20},
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0},
        "service_tier": "standard",
        "inference_geo": "us",
    }
    wanted = Usage(
        input_tokens=12,
        output_tokens=30,
        cache_read_tokens=900,
        cache_write_5m_tokens=50,
        cache_write_1h_tokens=20,
        web_search_requests=2,
        service_tier="standard",
        inference_geo="us",
    )
    assert read_usage(raw) == wanted
    assert read_usage(anthropic.types.Usage.model_validate(raw)) == wanted
    assert wanted.counts() == (12, 30, 900, 50, 20, 2, 0)


def test_without_the_split_cache_writes_are_five_minute_writes() -> None:
    found = read_usage({"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 9})
    assert (found.cache_write_5m_tokens, found.cache_write_1h_tokens) == (9, 0)


def test_thinking_never_exceeds_the_output() -> None:
    found = read_usage({"output_tokens": 10, "output_tokens_details": {"thinking_tokens": 99}})
    assert found.thinking_tokens == 10


def test_bad_values_count_as_zero_logged_once_per_episode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    usage_module._BAD_USAGE.recovered("agentguard.trace.usage")  # a fresh episode for this test
    caplog.clear()
    with caplog.at_level("WARNING", logger="agentguard.trace"):
        for _ in range(20):
            found = read_usage(
                {"input_tokens": -5, "output_tokens": "7", "cache_read_input_tokens": 10**12}
            )
            assert found.counts() == (0, 0, 0, 0, 0, 0, 0)
    lines = [r for r in caplog.records if r.name == "agentguard.trace"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "counted as 0" in lines[0].getMessage()


def test_missing_and_null_fields_are_zero_without_a_word(caplog: pytest.LogCaptureFixture) -> None:
    usage_module._BAD_USAGE.recovered("agentguard.trace.usage")
    caplog.clear()
    with caplog.at_level("WARNING", logger="agentguard.trace"):
        assert read_usage({"input_tokens": None}) == Usage()
        assert read_usage(object()) == Usage()
    assert not [r for r in caplog.records if r.name == "agentguard.trace"]
