"""Token files: what loads, and every file refused in one line that never quotes a token."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentguard_service import ALERTS_SCOPE, ALL_AGENTS_SCOPE, Token, TokenFileError, load_tokens

SECRET = "tok-6f1d2c9a8b"
GOOD = f"""
# Who reads what.
[tokens.ops]
token = "{SECRET}-ops"
scopes = ["agents:*", "alerts:read"]

[tokens.billing]
token = "{SECRET}-billing"
scopes = ["agents:billing", "agents:invoices"]
"""


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    ops, billing = load_tokens(write(tmp_path, GOOD))
    assert ops == Token(name="ops", secret=f"{SECRET}-ops", scopes=(ALL_AGENTS_SCOPE, ALERTS_SCOPE))
    assert (ops.agents, ops.alerts, ops.full) == (None, True, True)
    assert billing.agents == frozenset({"billing", "invoices"})
    assert (billing.alerts, billing.full) == (False, False)
    assert repr(billing) == "Token(name='billing', scopes=('agents:billing', 'agents:invoices'))"
    assert load_tokens(str(write(tmp_path, GOOD, 0o400))) == (ops, billing)


ONE = '[tokens.a]\ntoken = "{token}"\nscopes = {scopes}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tokens.a\ntoken = 1", "not valid TOML (Expected ']' at the end of a table declaration"),
        (f'[tokens.a]\ntoken = "{SECRET}"\ntoken = "{SECRET}"', "not valid TOML"),
        (
            ONE.format(token=SECRET, scopes='["agents:*", "admin"]'),
            "token 'a': unknown scope 'admin': use 'agents:*', 'agents:<agent name>' "
            "(1 to 256 printable characters) or 'alerts:read'",
        ),
        (ONE.format(token=SECRET, scopes='["agents:"]'), "token 'a': unknown scope 'agents:'"),
        (ONE.format(token=SECRET, scopes="[]"), "token 'a': give a list of one scope or more"),
        (ONE.format(token=SECRET, scopes='"agents:*"'), "token 'a': scopes must be a list"),
        (ONE.format(token="", scopes='["agents:*"]'), "token 'a': the token is empty"),
        (
            ONE.format(token=f" {SECRET}", scopes='["agents:*"]'),
            "token 'a': the token must be printable, without spaces around it",
        ),
        (f'[tokens.a]\ntoken = {len(SECRET)}\nscopes = ["agents:*"]', "must be a string, got int"),
        (
            ONE.format(token=SECRET, scopes='["agents:*"]')
            + ONE.replace(".a]", ".b]").format(token=SECRET, scopes='["agents:x"]'),
            "tokens 'a' and 'b' are the same token; give each its own",
        ),
        (
            f'[tokens.a]\ntoken = "{SECRET}"\nscopes = ["agents:*"]\nagents = ["x"]',
            "token 'a': unknown key 'agents'; use token and scopes",
        ),
        (f'[tokens.a]\ntoken = "{SECRET}"', "token 'a': no scopes"),
        ('[tokens.a]\nscopes = ["agents:*"]', "token 'a': no token"),
        (f'token = "{SECRET}"', "unknown key 'token'; put each token in a [tokens.<name>] table"),
        ("", "no token; add a [tokens.<name>] table"),
        (f'tokens = "{SECRET}"', "no token; add a [tokens.<name>] table"),
        (f'[tokens]\na = "{SECRET}"', "token 'a': must be a table with token and scopes"),
    ],
)
def test_a_bad_file_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TokenFileError) as caught:
        load_tokens(path)
    line = str(caught.value)
    assert line.startswith(f"token file {path}: ")
    assert message in line
    assert "\n" not in line
    assert SECRET not in line


@pytest.mark.parametrize(
    ("mode", "shown"),
    [
        (0o644, "-rw-r--r--"),
        (0o640, "-rw-r-----"),
        (0o604, "-rw----r--"),
        (0o620, "-rw--w----"),
        (0o601, "-rw------x"),
    ],
)
def test_a_file_others_may_read_is_refused(tmp_path: Path, mode: int, shown: str) -> None:
    path = write(tmp_path, GOOD, mode)
    with pytest.raises(TokenFileError) as caught:
        load_tokens(path)
    assert str(caught.value) == (
        f"token file {path}: group or others may access it (mode {shown}); chmod 600 {path}"
    )


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(TokenFileError, match=r": cannot read it \(No such file or directory\)$"):
        load_tokens(missing)
    binary = write(tmp_path, "")
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(TokenFileError, match=r": not UTF-8 text$"):
        load_tokens(binary)
    if os.geteuid() != 0:  # root reads a file of mode 000 all the same
        with pytest.raises(TokenFileError, match=r"cannot read it \(Permission denied\)$"):
            load_tokens(write(tmp_path, GOOD, 0o000))
