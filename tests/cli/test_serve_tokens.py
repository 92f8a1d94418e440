"""``agentguard serve`` with a token file: scopes over real HTTP, and every bad file refused.

The service runs in a subprocess over a real redis-server; its standard error is read whole,
so a token that reached its output would be seen.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx2
import pytest

from agentguard_cli._serve import ServeOptions
from agentguard_redis import RedisSubscriber
from agentguard_service import Token
from cli.test_serve import SERVE, Service, publish
from cli.test_serve import workers as workers  # noqa: PLC0414 (the fixture, re-exported)
from support.redis_server import RedisServer

OPS = "ops-5d0c7e2b19"
SUPPORT = "support-8a41f3c6e0"
SINGLE = "single-2b7e9d4c11"
FILE = f"""
[tokens.ops]
token = "{OPS}"
scopes = ["agents:*", "alerts:read"]

[tokens.support-team]
token = "{SUPPORT}"
scopes = ["agents:support"]
"""


def token_file(tmp_path: Path, text: str = FILE, mode: int = 0o600) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_scoped_tokens_from_a_file_and_the_environment(
    tmp_path: Path, redis_server: RedisServer, workers: list[RedisSubscriber]
) -> None:
    publish(workers[0], 5)
    publish(workers[1], 3, agent="billing")
    env = {"AGENTGUARD_TOKENS_FILE": str(token_file(tmp_path)), "AGENTGUARD_TOKEN": SINGLE}
    service = Service("--redis", redis_server.url, env=env)
    try:
        for token in (SINGLE, OPS):
            snapshot = service.get("/api/v1/snapshot", **bearer(token)).json()
            assert snapshot["agents"] == ["billing", "support"]
            assert snapshot["total_executions"] == 2 * (5 + 3)
        scoped = service.get("/api/v1/snapshot", **bearer(SUPPORT)).json()
        assert (scoped["agents"], scoped["total_executions"]) == (["support"], 2 * 5)
        query = "/api/v1/metrics?timeframe=1h&metrics=performance"
        mine = service.get(query, **bearer(SUPPORT)).json()
        assert mine["summary"]["totalExecutions"] == 10
        refused = service.get(f"{query}&agent=billing", **bearer(SUPPORT))
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "INSUFFICIENT_PERMISSIONS",
            "message": "This token may not read agent 'billing'; it may read support",
            "details": {
                "requiredPermission": "agents:billing",
                "currentPermissions": ["agents:support"],
            },
        }
        alerts = service.get("/api/v1/metrics?metrics=alerts", **bearer(SUPPORT))
        assert alerts.json()["details"]["requiredPermission"] == "alerts:read"
        assert service.get("/api/v1/metrics?metrics=alerts", **bearer(OPS)).status_code == 200
        assert service.get("/api/v1/snapshot").status_code == 401
        assert service.get("/api/v1/snapshot", **bearer(SUPPORT + "x")).status_code == 401
        assert service.get("/healthz").status_code == 200
    finally:
        assert service.stop() == 0
    output = "\n".join(service.lines)
    for token in (OPS, SUPPORT, SINGLE):
        assert token not in output


def test_the_tokens_flag_names_the_file(
    tmp_path: Path, redis_server: RedisServer, workers: list[RedisSubscriber]
) -> None:
    publish(workers[0], 2, agent="billing")
    service = Service("--redis", redis_server.url, "--tokens", str(token_file(tmp_path)))
    try:
        empty = service.get("/api/v1/snapshot", **bearer(SUPPORT)).json()
        assert (empty["agents"], empty["total_executions"]) == ([], 0)
        metrics = httpx2.get(f"{service.url}/metrics", headers=bearer(SUPPORT), timeout=10).text
        assert "agentguard_llm_calls_total{" not in metrics
        assert service.get("/api/v1/snapshot", **bearer(OPS)).json()["total_executions"] == 4
    finally:
        assert service.stop() == 0


ONE = '[tokens.a]\ntoken = "{token}"\nscopes = {scopes}\n'


@pytest.mark.parametrize(
    ("text", "mode", "args", "message"),
    [
        ("[tokens.a\n", 0o600, [], "not valid TOML"),
        (ONE.format(token=OPS, scopes='["agents:*", "root"]'), 0o600, [], "unknown scope 'root'"),
        (ONE.format(token="", scopes='["agents:*"]'), 0o600, [], "token 'a': the token is empty"),
        (
            ONE.format(token=OPS, scopes='["agents:*"]')
            + ONE.replace(".a]", ".b]").format(token=OPS, scopes='["agents:x"]'),
            0o600,
            [],
            "tokens 'a' and 'b' are the same token",
        ),
        (FILE, 0o644, [], "group or others may access it (mode -rw-r--r--); chmod 600"),
        (FILE, 0o640, [], "group or others may access it (mode -rw-r-----); chmod 600"),
        (FILE, 0o600, ["--token", OPS], "tokens '--token' and 'ops' are the same token"),
    ],
)
def test_a_bad_token_file_refuses_to_start_in_one_line(
    tmp_path: Path, text: str, mode: int, args: list[str], message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGUARD_")}
    path = token_file(tmp_path, text, mode)
    done = subprocess.run(
        [*SERVE, "--redis", "redis://127.0.0.1:1/0", "--port", "0", "--tokens", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("agentguard serve: "), done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert OPS not in done.stderr
    assert done.stdout == ""


def test_the_options_never_show_a_token() -> None:
    options = ServeOptions(
        redis_url="redis://127.0.0.1:6379/0",
        token=SINGLE,
        tokens=(Token(name="ops", secret=OPS, scopes=("agents:*",)),),
    )
    assert SINGLE not in repr(options)
    assert OPS not in repr(options)
    assert "Token(name='ops', scopes=('agents:*',))" in repr(options)
