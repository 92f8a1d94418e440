"""The store's URL forms beyond one plain server: TLS, ACL users, Sentinel, and their mistakes.

Real servers throughout: a ``redis-server`` with a TLS port beside its plain one (certificates
from a CA made here), an ACL user made with ``ACL SETUSER``, a ``redis-server --sentinel``.
Each mistake must come out as one line of the package's errors, without the password.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from agentguard import Bus
from agentguard.events import ToolCallFinished
from agentguard.redisconnect import parse, redact
from agentguard_redis import (
    RedisCredentialsError,
    RedisSetupError,
    RedisStore,
    RedisSubscriber,
    RedisUnavailableError,
    connect,
)
from support.redis_deployments import (
    SentinelProcess,
    TLSFiles,
    make_tls_files,
    tls_port,
    tls_server,
)
from support.redis_server import RedisServer
from support.system import IN_CI
from support.waiting import wait_until

PASSWORD = "pw-7d1e-never-shown"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A CA made for this module and a server certificate it signed."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_redis(tmp_path: Path, tls_files: TLSFiles) -> Iterator[RedisServer]:
    """A redis-server with a TLS port (``tls_port(server)``) beside its plain port."""
    server = tls_server(tmp_path / "tls-redis", tls_files)
    try:
        server.start()
    except RuntimeError:
        if IN_CI:
            raise
        pytest.skip("this redis-server was built without TLS")
    try:
        yield server
    finally:
        server.kill()


def publish_and_read(url: str, prefix: str = "deploy") -> float:
    """Flush two tool calls through a subscriber on ``url``; what a store there reads back."""
    subscriber = RedisSubscriber.from_url(url, prefix=prefix)
    bus = Bus()
    subscriber.attach(bus)
    bus.publish(ToolCallFinished(tool="search", duration_s=0.1))
    bus.publish(ToolCallFinished(tool="search", duration_s=0.2))
    assert subscriber.close(10.0)
    store = subscriber.redis_store
    try:
        store.check()
        return store.counter("agentguard_tool_calls_total")
    finally:
        store.client.close()


def refusal(url: str) -> BaseException:
    """What ``check()`` raises for ``url``."""
    store = RedisStore.from_url(url)
    try:
        store.check()
    except (RedisSetupError, RedisUnavailableError) as exc:
        return exc
    finally:
        store.client.close()
    raise AssertionError(f"{redact(url)} was accepted")


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    assert PASSWORD not in text
    return text


def test_rediss_with_the_test_ca(tls_redis: RedisServer, tls_files: TLSFiles) -> None:
    url = f"rediss://127.0.0.1:{tls_port(tls_redis)}/0?ssl_ca_certs={tls_files.ca}"
    assert publish_and_read(url) == 2
    assert publish_and_read(url + "&cluster=false") == 4


def test_tls_mistakes_are_said_in_one_line(tls_redis: RedisServer, tls_files: TLSFiles) -> None:
    port, plain = tls_port(tls_redis), tls_redis.port
    untrusted = refusal(f"rediss://127.0.0.1:{port}/0")
    assert isinstance(untrusted, RedisSetupError)
    assert untrusted.reason == "tls"
    assert "ssl_ca_certs=" in one_line(untrusted)
    tls_to_plain = refusal(f"rediss://127.0.0.1:{plain}/0?ssl_ca_certs={tls_files.ca}")
    assert isinstance(tls_to_plain, RedisSetupError)
    assert tls_to_plain.reason == "tls"
    assert "takes redis://, not rediss://" in one_line(tls_to_plain)
    plain_to_tls = refusal(f"redis://127.0.0.1:{port}/0")
    assert isinstance(plain_to_tls, RedisSetupError)
    assert plain_to_tls.reason == "tls"
    assert f"127.0.0.1:{port} speaks TLS: use rediss://" in one_line(plain_to_tls)


def test_an_acl_user_and_a_wrong_password(redis_server: RedisServer) -> None:
    admin = connect(redis_server.url)
    admin.acl_setuser(
        "worker", enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"], commands=["+@all"]
    )
    admin.acl_setuser("default", enabled=False)  # only named users from now on
    admin.close()
    port = redis_server.port
    assert publish_and_read(f"redis://worker:{PASSWORD}@127.0.0.1:{port}/0") == 2
    wrong = refusal(f"redis://worker:{PASSWORD}x@127.0.0.1:{port}/0")
    assert isinstance(wrong, RedisCredentialsError)
    assert wrong.reason == "auth"
    assert "WRONGPASS" in one_line(wrong)
    assert f"{PASSWORD}x" not in str(wrong)


def test_an_unreachable_host_is_an_outage_in_one_line(unused_port: int) -> None:
    exc = refusal(f"redis://user:{PASSWORD}@127.0.0.1:{unused_port}/0")
    assert isinstance(exc, RedisUnavailableError)
    assert isinstance(exc, redis.ConnectionError)  # retried like any outage
    assert exc.reason == "unreachable"
    assert one_line(exc).startswith("cannot reach Redis (")


@pytest.fixture
def sentinel(tmp_path: Path, redis_server: RedisServer) -> Iterator[SentinelProcess]:
    """A real ``redis-server --sentinel`` that monitors the test's server as ``agents``."""
    process = SentinelProcess(tmp_path / "sentinel", redis_server, "agents")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_sentinel_names_the_primary(sentinel: SentinelProcess, unused_port: int) -> None:
    # an unreachable sentinel first: the next one in the list answers
    url = f"redis+sentinel://127.0.0.1:{unused_port},127.0.0.1:{sentinel.port}/agents/0"
    assert publish_and_read(url) == 2
    unknown = refusal(f"redis+sentinel://127.0.0.1:{sentinel.port}/nobody/0")
    assert isinstance(unknown, RedisUnavailableError)
    assert unknown.reason == "sentinel"
    assert "knows a primary for service 'nobody'" in one_line(unknown)
    away = refusal(f"redis+sentinel://127.0.0.1:{unused_port}/agents/0")
    assert isinstance(away, RedisUnavailableError)
    assert f"no Sentinel answered at 127.0.0.1:{unused_port}" in one_line(away)


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("redis://h:1/0", "auto"),
        ("rediss://h:1/0?ssl_ca_certs=/ca.pem", "auto"),
        ("redis://h:1/0?cluster=false", "single"),
        ("unix:///run/redis.sock", "single"),
        ("redis+cluster://h:1", "cluster"),
        ("rediss+cluster://u:p@h:1/0", "cluster"),
        ("redis://h:1/0?cluster=true", "cluster"),
        ("redis+sentinel://a:26379,b/agents/2", "sentinel"),
    ],
)
def test_url_forms(url: str, mode: str) -> None:
    target = parse(url)
    assert target.mode == mode
    assert "cluster=" not in target.url
    assert target.tls == url.startswith("rediss")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h:1/0", "is not a Redis URL"),
        ("redis+cluster://h:1/3", "only database 0"),
        ("redis://h:1/0?cluster=maybe", "cluster=true or cluster=false"),
        ("redis+sentinel://a:1", "say which primary"),
        (f"redis+sentinel://u:{PASSWORD}@a:1", "say which primary"),
    ],
)
def test_bad_urls_fail_at_once(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as info:
        connect(url)
    assert PASSWORD not in str(info.value)


def test_redact_hides_the_password_of_every_form() -> None:
    assert redact(f"redis://u:{PASSWORD}@h:1/0") == "redis://u:***@h:1/0"
    assert redact(f"redis+sentinel://:{PASSWORD}@a:1,b:2/s") == "redis+sentinel://:***@a:1,b:2/s"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_the_core_factory_lists_exactly_its_public_names() -> None:
    """``agentguard.redisconnect`` needs redis-py, so its API is checked here, not in tests/core."""
    from agentguard import redisconnect
    from support.api import assert_all_is_public_api

    assert_all_is_public_api(redisconnect)


def test_closing_a_client_closes_its_connections(redis_server: RedisServer) -> None:
    from agentguard.redisconnect import connect

    watcher = redis.Redis.from_url(redis_server.url)
    client = connect(redis_server.url)
    client.client_setname("closed-with-its-client")

    def names() -> list[str]:
        return [c["name"] for c in watcher.client_list()]

    assert "closed-with-its-client" in names()
    client.close()  # the pool the factory made goes with it (redis-py closes only its own)
    wait_until(lambda: "closed-with-its-client" not in names(), 10.0, "the connection to close")
    watcher.close()
