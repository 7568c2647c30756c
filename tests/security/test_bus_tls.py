"""Finding 2: TLS for NATS and Redis "by configuration", end to end.

A certificate authority and a server certificate are made here (`cryptography`); nats-server
and redis-server speak TLS only, with per-service users; the broker and the gateway are given
nothing but configuration (`tls://` and `rediss://` URLs with their users, `NATS_TLS_CA_FILE`,
the CA as a `rediss://` URL parameter) and a request is served through the gateway. A client
that does not trust the CA is refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import nats.errors
import orjson
import pytest
import redis
import redis.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiro_testing import NatsServer, PythonService, RedisServer, free_port
from kiro_testing.busauth import (
    NATS_SERVICES,
    REDIS_SERVICES,
    new_passwords,
    render_nats_conf,
    render_redis_conf,
    write_private,
)
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, SECRET_KEY

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_pki(folder: Path) -> Pki:
    """A CA and a server certificate for 127.0.0.1 / localhost, valid for a day."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("kiro2api test CA"))
        .issuer_name(_name("kiro2api test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.crt", folder / "server.crt", folder / "server.key")
    write_private(pki.ca, ca.public_bytes(serialization.Encoding.PEM).decode())
    write_private(pki.cert, cert.public_bytes(serialization.Encoding.PEM).decode())
    write_private(
        pki.key,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    return pki


@dataclass
class TlsServers:
    pki: Pki
    nats_port: int
    redis_port: int
    nats_passwords: dict[str, str]
    redis_passwords: dict[str, str]

    def nats_url(self, service: str) -> str:
        return f"tls://{service}:{self.nats_passwords[service]}@127.0.0.1:{self.nats_port}"

    def redis_url(self, service: str) -> str:
        return (
            f"rediss://{service}:{self.redis_passwords[service]}@127.0.0.1:{self.redis_port}/0"
            f"?ssl_ca_certs={self.pki.ca}"
        )


@pytest.fixture(scope="module")
def tls_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServers]:
    folder = tmp_path_factory.mktemp("tls")
    pki = make_pki(folder)
    files = {"cert_file": str(pki.cert), "key_file": str(pki.key)}
    nats_passwords = new_passwords(NATS_SERVICES)
    redis_passwords = new_passwords(REDIS_SERVICES)
    nats_port, redis_port = free_port(), free_port()
    nats_conf = write_private(
        folder / "nats.conf", render_nats_conf(nats_passwords, port=nats_port, tls=files)
    )
    data = folder / "redis-data"
    redis_conf = write_private(
        folder / "redis.conf",
        render_redis_conf(
            redis_passwords, port=redis_port, data_dir=data, tls={**files, "ca_file": str(pki.ca)}
        ),
    )
    nats_server = NatsServer(folder / "logs", port=nats_port, config_file=nats_conf)
    redis_server = RedisServer(
        folder / "logs", port=redis_port, data_dir=data, config_file=redis_conf, tls=True
    )
    nats_server.start()
    try:
        redis_server.start()
        try:
            yield TlsServers(pki, nats_port, redis_port, nats_passwords, redis_passwords)
        finally:
            redis_server.stop()
    finally:
        nats_server.stop()


def test_clients_that_do_not_trust_the_ca_are_refused(tls_servers: TlsServers) -> None:
    untrusting = redis.Redis.from_url(tls_servers.redis_url("broker").split("?")[0], socket_timeout=5)
    try:
        with pytest.raises(redis.exceptions.ConnectionError, match="(?i)certificate"):
            untrusting.ping()
    finally:
        untrusting.close()
    trusting = redis.Redis.from_url(tls_servers.redis_url("broker"), socket_timeout=5)
    try:
        assert trusting.ping()
    finally:
        trusting.close()

    async def plain_nats() -> None:
        nc = await nats.connect(
            tls_servers.nats_url("gateway"),
            tls=ssl.create_default_context(),
            connect_timeout=2,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )
        await nc.close()

    with pytest.raises((ssl.SSLError, nats.errors.Error, OSError)):
        asyncio.run(plain_nats())


def test_a_request_is_served_over_tls(tls_servers: TlsServers, tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    sim.start()
    gateway: PythonService | None = None
    broker: PythonService | None = None
    try:
        account = sim.add_account()
        upstream = {
            "KIRO_API_BASE_URL": sim.url,
            "KIRO_AUTH_BASE_URL": sim.url,
            "KIRO_OIDC_BASE_URL": sim.url,
        }
        tls_env = {"NATS_TLS_CA_FILE": str(tls_servers.pki.ca), "LOG_LEVEL": "INFO"}
        broker_port, gateway_port = free_port(), free_port()
        broker = PythonService(
            "broker-tls",
            "token_broker",
            tmp_path,
            {
                **upstream,
                **tls_env,
                "NATS_URL": tls_servers.nats_url("broker"),
                "REDIS_URL": tls_servers.redis_url("broker"),
                "KIRO_SECRET_KEY": SECRET_KEY,
                "KIRO_AUTH_TOKEN": orjson.dumps([credential(account)]).decode(),
                "BROKER_HOST": "127.0.0.1",
                "BROKER_PORT": str(broker_port),
                "BROKER_USAGE_POLL_INTERVAL": "0",
            },
            f"http://127.0.0.1:{broker_port}/readyz",
        )
        broker.start()
        gateway = PythonService(
            "gateway-tls",
            "gateway",
            tmp_path,
            {
                **upstream,
                **tls_env,
                "NATS_URL": tls_servers.nats_url("gateway"),
                "KIRO_CLIENT_TOKEN": CLIENT_TOKEN,
                "PORT": str(gateway_port),
                "GATEWAY_HOST": "127.0.0.1",
            },
            f"http://127.0.0.1:{gateway_port}/readyz",
        )
        gateway.start()
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Hello"}],
        }
        resp = httpx.post(
            f"http://127.0.0.1:{gateway_port}/v1/messages",
            json=body,
            headers={"x-api-key": CLIENT_TOKEN},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["content"][0]["text"].startswith("Echo: Hello")
        for secret in [*tls_servers.nats_passwords.values(), *tls_servers.redis_passwords.values()]:
            assert secret not in broker.read_log() + gateway.read_log(), "a bus password was logged"
    finally:
        for proc in (gateway, broker):
            if proc is not None:
                proc.stop()
        sim.stop()


def test_the_generated_nats_conf_carries_tls() -> None:
    """The generated blocks carry the TLS settings they were given (nothing else changes)."""
    conf = render_nats_conf(
        {"gateway": secrets.token_urlsafe(8)}, port=4222, tls={"cert_file": "c", "key_file": "k"}
    )
    assert '"tls"' in conf and '"cert_file": "c"' in conf
