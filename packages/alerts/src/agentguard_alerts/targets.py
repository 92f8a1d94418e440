"""Which webhook targets may be sent to: the SSRF policy, checked when configured and per send.

:class:`TargetPolicy` refuses, unless allowed explicitly, ``http`` and any host that is or
resolves to an address not globally routable (loopback, private, link-local, CGNAT,
multicast, reserved), in every spelling: IPv4 in decimal, octal, hex or short forms, and IPv6
that embeds IPv4 (packages/alerts/README.md, "SSRF policy").

The trap: every address a name resolves to is checked, and :class:`PinnedTransport` connects
to the address checked, so DNS rebinding cannot swap it between check and connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2

from agentguard_alerts.errors import TargetRefused

__all__ = [
    "PinnedTransport",
    "Resolver",
    "TargetPolicy",
    "literal_address",
    "redact_url",
    "resolve",
]

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port)``: the addresses (as text) a name resolves to."""

_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, by ``socket.getaddrinfo``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_address(host: str) -> _IPAddress | None:
    """The address ``host`` spells, in any form a resolver accepts, or ``None`` for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: _IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: _IPAddress) -> bool:
    inner = _embedded_ipv4(address)
    if inner is not None and not _is_public(inner):
        return False
    if isinstance(address, ipaddress.IPv6Address) and inner is not None:
        return True  # the embedded IPv4 address decides
    return address.is_global and not address.is_multicast


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: paths and queries can hold secrets (Slack's do)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ":?"
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Where webhooks may go.

    Args:
        allow_http: Allow plain ``http://`` targets (``https://`` only by default).
        allow_private: Allow every address, loopback and private ranges included.
        allow_networks: CIDR ranges allowed although not public, e.g. ``["10.1.0.0/16"]``.
        resolver: Resolves names (``socket.getaddrinfo`` by default; injected in tests).
    """

    allow_http: bool = False
    allow_private: bool = False
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    resolver: Resolver = field(default=resolve, compare=False)

    @classmethod
    def of(
        cls,
        *,
        allow_http: bool = False,
        allow_private: bool = False,
        allow_networks: Iterable[str] = (),
        resolver: Resolver | None = None,
    ) -> TargetPolicy:
        """A policy from plain values; a bad CIDR range raises ``ValueError`` naming it."""
        if isinstance(allow_networks, str):
            raise TypeError("allow_networks takes a list of CIDR ranges, not one str")
        networks = []
        for network in allow_networks:
            try:
                networks.append(ipaddress.ip_network(network, strict=False))
            except ValueError:
                raise ValueError(f"allow_networks: {network!r} is not a CIDR range") from None
        return cls(
            allow_http=bool(allow_http),
            allow_private=bool(allow_private),
            allow_networks=tuple(networks),
            resolver=resolver or resolve,
        )

    def allows_address(self, address: _IPAddress) -> bool:
        """Whether a connection to ``address`` is allowed."""
        if self.allow_private or _is_public(address):
            return True
        candidates = [address]
        inner = _embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        return any(c in network for c in candidates for network in self.allow_networks)

    def check_url(self, url: str) -> tuple[str, int]:
        """Check what can be checked without the network; the host and port to resolve.

        Raises:
            TargetRefused: not http(s), http without ``allow_http``, credentials in the URL, no
                host, or a host that is (in any spelling) an address the policy refuses.
        """
        if not isinstance(url, str):
            raise TypeError(f"a webhook URL must be a str, got {type(url).__name__}")
        parts = urlsplit(url.strip())
        shown = redact_url(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise TargetRefused(f"webhook target {shown}: only https (or http) URLs are allowed")
        if scheme == "http" and not self.allow_http:
            raise TargetRefused(
                f"webhook target {shown}: https is required; pass allow_http=True to send "
                "over plain http"
            )
        if parts.username is not None or parts.password is not None:
            raise TargetRefused(f"webhook target {shown}: credentials in the URL are refused")
        host = parts.hostname
        if not host:
            raise TargetRefused(f"webhook target {shown}: the URL has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise TargetRefused(f"webhook target {shown}: the port is not a number") from None
        address = literal_address(host)
        if address is not None:
            self._check(address, shown, host)
        elif not self.allow_private and host.rstrip(".").lower() in _LOCAL_NAMES:
            raise TargetRefused(
                f"webhook target {shown}: {host} is loopback; pass allow_private=True to allow it"
            )
        return host, port

    def pin(self, host: str, port: int, shown: str) -> str:
        """Resolve ``host`` and check every address; the address to connect to.

        Raises:
            TargetRefused: the name does not resolve, or resolves to any refused address.
        """
        literal = literal_address(host)
        if literal is not None:
            self._check(literal, shown, host)
            return str(literal)
        try:
            found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
        except (OSError, UnicodeError, ValueError):
            raise TargetRefused(f"webhook target {shown}: {host} does not resolve") from None
        if not found:
            raise TargetRefused(f"webhook target {shown}: {host} does not resolve")
        for address in found:
            self._check(address, shown, f"{host} resolves to {address}, which")
        return str(found[0])

    def _check(self, address: _IPAddress, shown: str, what: str) -> None:
        if not self.allows_address(address):
            raise TargetRefused(
                f"webhook target {shown}: {what} is not a public address (loopback, private, "
                "link-local or reserved); pass allow_private=True or allow_networks=[...] "
                "to allow it"
            )


class PinnedTransport(httpx2.BaseTransport):
    """Connects only to addresses the policy allows, to exactly the address it checked.

    Each request's host is resolved and every address checked; the request then goes to the
    first address, with the original ``Host`` header and, over TLS, the original name for SNI
    and certificate checks. Redirects are the client's business (it must not follow them).
    """

    def __init__(self, policy: TargetPolicy, inner: httpx2.BaseTransport | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpx2.HTTPTransport(trust_env=False)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Pin the request to a checked address and send it.

        Raises:
            TargetRefused: the host is or resolves to an address the policy refuses.
        """
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        address = self._policy.pin(host, port, redact_url(str(url)))
        request.url = url.copy_with(host=address)
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        """Close the inner transport's connections."""
        self._inner.close()

    def __repr__(self) -> str:
        return f"<PinnedTransport {self._policy!r}>"
