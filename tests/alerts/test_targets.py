"""The SSRF policy: private targets refused in every spelling, names checked and pinned."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Sequence

import pytest

from agentguard_alerts import Alert, Notification, TargetPolicy, TargetRefused, WebhookSender
from support.scripted import ScriptedServer

SECRET = "whsec_" + base64.b64encode(b"the SSRF tests' secret, 32 bytes").decode()

REFUSED = [
    # loopback
    "https://127.0.0.1/hook",
    "https://127.8.9.10/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://[::1]/hook",
    # private ranges, carrier-grade NAT, unspecified, multicast, reserved
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.254/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456::1]/hook",
    "https://[::]/hook",
    # link-local: the cloud metadata service above all
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/hook",
    # IPv6 forms embedding a private IPv4 address
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[::127.0.0.1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[2002:7f00:1::]/hook",
    # decimal, octal, hex and short IPv4 forms
    "https://2130706433/hook",
    "https://017700000001/hook",
    "https://0177.0.0.1/hook",
    "https://0x7f.0.0.1/hook",
    "https://0x7f000001/hook",
    "https://127.1/hook",
    "https://3232235777/hook",  # 192.168.1.1
    "https://0251.0376.0251.0376/hook",  # 169.254.169.254 in octal
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_targets_are_refused_in_every_spelling(url: str) -> None:
    with pytest.raises(TargetRefused, match="allow_private=True") as caught:
        TargetPolicy().check_url(url)
    assert "/hook" not in str(caught.value) and "meta-data" not in str(caught.value)


@pytest.mark.parametrize("url", REFUSED)
def test_a_sender_refuses_them_when_made(url: str) -> None:
    with pytest.raises(TargetRefused):
        WebhookSender(url, secrets=[SECRET])


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://alerts.example.com/hook",  # a name: resolved and checked when sending
        "https://1.1.1.1:8443/hook",
    ],
)
def test_public_targets_pass(url: str) -> None:
    host, port = TargetPolicy().check_url(url)
    assert host and port in (443, 8443)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://alerts.example.com/", "https is required; pass allow_http=True"),
        ("ftp://alerts.example.com/", "only https (or http)"),
        ("https://user:pass@alerts.example.com/", "credentials in the URL"),
        ("https:///path", "no host"),
        ("https://alerts.example.com:port/", "port is not a number"),
    ],
)
def test_other_bad_urls(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=re.escape(message)) as caught:
        TargetPolicy().check_url(url)
    assert "pass@" not in str(caught.value)


def test_explicit_allowances() -> None:
    TargetPolicy(allow_http=True).check_url("http://alerts.example.com/")
    TargetPolicy(allow_private=True).check_url("https://127.0.0.1/")
    TargetPolicy(allow_private=True).check_url("https://0177.0.0.1/")
    policy = TargetPolicy.of(allow_networks=["10.0.0.0/8", "fd00::/8"])
    policy.check_url("https://10.20.30.40/")
    policy.check_url("https://[::ffff:10.0.0.1]/")
    policy.check_url("https://[fd00::5]/")
    with pytest.raises(TargetRefused):
        policy.check_url("https://192.168.0.1/")
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a CIDR range"):
        TargetPolicy.of(allow_networks=["10.0.0.0/33"])


def resolver(table: dict[str, Sequence[str]]) -> object:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.0.0.7"],
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:192.168.0.1"],
        ["93.184.215.14", "10.0.0.7"],  # one private address among public ones is enough
    ],
)
def test_names_resolving_to_private_addresses_are_refused(addresses: list[str]) -> None:
    policy = TargetPolicy.of(resolver=resolver({"alerts.example.com": addresses}))  # type: ignore[arg-type]  # a resolver
    host, port = policy.check_url("https://alerts.example.com/hook")
    with pytest.raises(TargetRefused, match=r"alerts\.example\.com resolves to"):
        policy.pin(host, port, "https://alerts.example.com")


def test_a_name_is_pinned_to_the_address_checked() -> None:
    policy = TargetPolicy.of(resolver=resolver({"a.example": ["93.184.215.14", "1.1.1.1"]}))  # type: ignore[arg-type]  # a resolver
    assert policy.pin("a.example", 443, "https://a.example") == "93.184.215.14"
    with pytest.raises(TargetRefused, match="does not resolve"):
        policy.pin("nowhere.example", 443, "https://nowhere.example")


@pytest.fixture
def target() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


def _notification() -> Notification:
    return Notification(
        group_labels={"alertname": "X"},
        alerts=(
            Alert(
                status="firing",
                labels={"alertname": "X"},
                annotations={},
                starts_at_unix_s=0.0,
                ends_at_unix_s=None,
                value=1.0,
                fingerprint="0" * 16,
            ),
        ),
    )


def test_a_sender_connects_to_the_checked_address_with_the_name_as_host(
    target: ScriptedServer,
) -> None:
    names = resolver({"alerts.internal.test": ["127.0.0.1"]})
    url = f"http://alerts.internal.test:{target.port}/hook"
    with WebhookSender(
        url,
        secrets=[SECRET],
        allow_http=True,
        allow_private=True,
        resolver=names,  # type: ignore[arg-type]  # a resolver
    ) as sender:
        sender.notify(_notification())
        assert sender.flush(10)
    (request,) = target.requests
    assert request.headers["host"] == f"alerts.internal.test:{target.port}"
    assert sender.delivered == 1


def test_a_sender_refuses_a_name_that_resolves_to_loopback_when_it_sends(
    target: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    names = resolver({"rebound.example": ["127.0.0.1"]})
    url = f"http://rebound.example:{target.port}/hook"
    with WebhookSender(url, secrets=[SECRET], allow_http=True, resolver=names) as sender:  # type: ignore[arg-type]  # a resolver
        sender.notify(_notification())
        assert sender.flush(10)
    assert target.requests == [], "nothing reached the loopback server"
    assert (sender.delivered, sender.failed, sender.retries) == (0, 1, 0)
    assert "rebound.example resolves to 127.0.0.1, which is not a public address" in caplog.text
