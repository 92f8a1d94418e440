"""agentguard_trace.fake: the fake's old import path, kept one release with a warning."""

from __future__ import annotations

import importlib
import sys

import pytest

import agentguard_fake


def test_the_old_path_gives_the_fakes_names_with_a_deprecation_warning() -> None:
    alias = importlib.import_module("agentguard_trace.fake")
    with pytest.warns(DeprecationWarning, match="import FakeAnthropicServer from agentguard_fake"):
        server_class = alias.FakeAnthropicServer
    assert server_class is agentguard_fake.FakeAnthropicServer
    with pytest.raises(AttributeError, match="no attribute 'ListPriceTable'"):
        _ = alias.ListPriceTable


def test_without_the_fake_installed_the_error_names_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alias = importlib.import_module("agentguard_trace.fake")
    monkeypatch.setitem(sys.modules, "agentguard_fake", None)
    with (
        pytest.warns(DeprecationWarning, match="agentguard_trace.fake is deprecated"),
        pytest.raises(ImportError, match="pip install agentguard-fake"),
    ):
        _ = alias.Reply
