"""``agentguard receive``: the command hands its options to the receiver, Anthropic keys too."""

from __future__ import annotations

import pytest

from agentguard_cli.main import main


def test_receive_documents_the_anthropic_key_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["receive", "--help"])
    assert exited.value.code == 0
    usage = capsys.readouterr().out
    assert "--anthropic-secret-file FILE" in usage
    assert "AGENTGUARD_RECEIVER_ANTHROPIC_SECRETS" in usage


def test_an_unreadable_anthropic_key_file_ends_receive_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["receive", "--anthropic-secret-file", "/no/such/anthropic-keys"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "agentguard receive: error: cannot read '/no/such/anthropic-keys'" in error
    assert "Traceback" not in error
