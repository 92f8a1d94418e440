"""Redis deployments beyond one server, for the tests: a Cluster, TLS, Sentinel.

- :class:`ClusterNodes`: N masters in cluster mode (and a replica each, if asked), their slots
  assigned and joined with ``CLUSTER ADDSLOTSRANGE``, ``CLUSTER MEET`` and
  ``CLUSTER REPLICATE`` (what ``redis-cli --cluster create`` does), so only the server binary
  is needed.
- :func:`make_tls_files`: a self-signed CA and a server certificate for 127.0.0.1, made with
  the ``cryptography`` package.
- :class:`SentinelProcess`: one ``redis-server --sentinel`` watching a primary.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from support.ports import free_port
from support.redis_server import RedisServer, redis_server_binary
from support.waiting import wait_until

SLOTS = 16384


def in_sync(master: redis.Redis) -> int:
    """How many replicas of ``master`` are in sync (``state=online``): a ``WAIT`` counts them."""
    info = master.info("replication")
    return sum(
        1
        for name, value in info.items()
        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )


class ClusterNodes:
    """``masters`` redis-servers in cluster mode forming one Redis Cluster with every slot.

    With ``replicas=1`` each master ``i`` has a replica, ``servers[masters + i]``.
    """

    def __init__(
        self,
        workdir: Path,
        masters: int = 3,
        *,
        node_timeout_ms: int = 3000,
        replicas: int = 0,
    ) -> None:
        self.masters = masters
        self.replicas = replicas
        self.servers = [
            RedisServer(
                workdir / f"node{i}",
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(workdir / f"nodes{i}.conf"),
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                    "--cluster-port",  # else port + 10000, past 65535 for a high free port
                    str(free_port()),
                    "--repl-diskless-sync-delay",  # a replica in sync at once, not in 5 s
                    "0",
                ),
            )
            for i in range(masters * (1 + replicas))
        ]

    @property
    def urls(self) -> list[str]:
        """One ``redis://`` URL per node."""
        return [server.url for server in self.servers]

    def start(self, timeout_s: float = 30.0, *, served: int | None = None) -> None:
        """Start the nodes, give each a range of slots, join them; wait until the Cluster is ok.

        With ``served``, only the first ``served`` nodes get their slots: the others' stay
        uncovered (the Cluster is then never ok; this waits until the nodes know each other).
        """
        for server in self.servers:
            server.start()
        clients = [redis.Redis(host=s.host, port=s.port) for s in self.servers]
        try:
            masters = clients[: self.masters]
            share = SLOTS // len(masters)
            for i, client in enumerate(masters[:served]):
                last = SLOTS - 1 if i == len(masters) - 1 else (i + 1) * share - 1
                client.cluster("ADDSLOTSRANGE", i * share, last)
            for server in self.servers[1:]:
                bus = server.extra_args[server.extra_args.index("--cluster-port") + 1]
                clients[0].cluster("MEET", server.host, server.port, bus)
            wait_until(
                lambda: all(self._ok(client, served is None) for client in clients),
                timeout_s,
                "the Redis Cluster to become ok",
                interval_s=0.05,
            )
            for i, replica in enumerate(clients[self.masters :]):
                master = masters[i % self.masters]
                replica.cluster("REPLICATE", master.cluster("MYID"))
            for master in masters if self.replicas else ():
                wait_until(
                    lambda m=master: in_sync(m) >= self.replicas,  # type: ignore[misc]  # a default binds the loop's master
                    timeout_s,
                    "every master to have its replica in sync",
                    interval_s=0.05,
                )
        finally:
            for client in clients:
                client.close()

    def _ok(self, client: redis.Redis, served: bool) -> bool:
        info = client.cluster("INFO")
        return bool(
            (info["cluster_state"] == "ok" or not served)
            and int(info["cluster_known_nodes"]) == len(self.servers)
        )

    def role(self, node: int) -> str:
        """``master`` or ``slave``, as node ``node`` says."""
        with redis.Redis(port=self.servers[node].port, socket_timeout=1) as client:
            return str(client.info("replication")["role"])

    def state(self, node: int) -> str:
        """``cluster_state`` as node ``node`` sees it (``ok`` or ``fail``)."""
        with redis.Redis(port=self.servers[node].port, socket_timeout=1) as client:
            return str(client.cluster("INFO")["cluster_state"])

    def stop(self) -> None:
        """Kill every node."""
        for server in self.servers:
            server.kill()


@dataclass(frozen=True)
class TLSFiles:
    """A CA certificate and a server certificate and key signed by it, as PEM files."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(workdir: Path) -> TLSFiles:
    """A new self-signed CA and a certificate for ``127.0.0.1``/``localhost`` in ``workdir``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agentguard test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(workdir / "ca.pem", workdir / "server.pem", workdir / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def tls_server(workdir: Path, files: TLSFiles) -> RedisServer:
    """A redis-server with a plain port (:attr:`RedisServer.port`) and a TLS port beside it.

    The TLS port is in ``server.extra_args`` after ``--tls-port``; clients need no
    certificate of their own.
    """
    return RedisServer(
        workdir,
        extra_args=(
            "--tls-port",
            str(free_port()),
            "--tls-cert-file",
            str(files.cert),
            "--tls-key-file",
            str(files.key),
            "--tls-ca-cert-file",
            str(files.ca),
            "--tls-auth-clients",
            "no",
        ),
    )


def tls_port(server: RedisServer) -> int:
    """The TLS port of a :func:`tls_server`."""
    args = list(server.extra_args)
    return int(args[args.index("--tls-port") + 1])


class SentinelProcess:
    """One ``redis-server --sentinel`` monitoring ``primary`` as service ``service``."""

    def __init__(self, workdir: Path, primary: RedisServer, service: str) -> None:
        self.port = free_port()
        self.service = service
        workdir.mkdir(parents=True, exist_ok=True)
        self._config = workdir / "sentinel.conf"
        self._config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {service} {primary.host} {primary.port} 1\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        """Start the sentinel; wait until it names the primary of its service."""
        self._process = subprocess.Popen(
            [redis_server_binary(), str(self._config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._process
        client = redis.Redis(port=self.port, socket_timeout=0.5)

        def names_the_primary() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the sentinel exited with {process.returncode}")
            try:
                return bool(client.sentinel_get_master_addr_by_name(self.service))
            except redis.ConnectionError:
                return False

        try:
            what = f"the sentinel on port {self.port} to name its primary"
            wait_until(names_the_primary, timeout_s, what, interval_s=0.05)
        except AssertionError:
            self.stop()
            raise
        finally:
            client.close()

    def stop(self) -> None:
        """Kill the sentinel."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
