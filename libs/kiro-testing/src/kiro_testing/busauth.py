"""Authentication for the NATS and Redis that `make run` starts (README "Security").

One NATS user per service with subject permissions (the same blocks as deploy/nats/nats.conf):
only gateways may request leases (`<ns>.v1.lease.acquire`) and only they may subscribe to their
own reply inboxes (`_INBOX.gateway.>`), where lease replies with access tokens arrive; the
broker answers on the request subjects (`allow_responses`); the dashboard and oauth publish only
the admin requests they make. A client without credentials is refused.

Redis: the `default` user is off (an unauthenticated client is refused), protected mode is on,
and the broker, dashboard and oauth each have an ACL user without administrative or dangerous
commands. The gateway has no Redis user: it never talks to Redis.

Every file written here is mode 0600 inside a 0700 folder; passwords are random per start
(the servers are started by the same runner that hands them to the services). The Redis config
holds only SHA-256 hashes of the passwords.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiro_service.busconn import SERVICE_INBOXES
from kiroproto import bus
from kiroproto.bus import DEFAULT_NAMESPACE, Endpoint, Event

NATS_SERVICES = ("gateway", "broker", "dashboard", "oauth")
REDIS_SERVICES = ("broker", "dashboard", "oauth")
# Redis ACL rules of every service user: any key and channel, no administration.
REDIS_RULES = "~* &* +@all -@admin -@dangerous +info"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


# Which bus-table entries each client service sends on (broker requests, its published events)
# and which events it listens to; the broker answers every endpoint and publishes every event.
_SENDS: dict[str, tuple[Endpoint[Any, Any] | Event[Any], ...]] = {
    # leases and the pool, then liveness, team keys and accounting
    "gateway": (bus.LEASE_ACQUIRE, bus.LEASE_RELEASE, bus.LEASE_RENEW, bus.POOL_MODELS, bus.POOL_STATUS)
    + (bus.BROKER_PING, bus.KEY_LOOKUP, bus.USAGE_RECORD, bus.TRAFFIC_EVENTS),
    # the pool's administration, then the teams'
    "dashboard": (bus.POOL_STATUS, bus.CREDENTIAL_ADD, bus.CREDENTIAL_ACTION)
    + (bus.KEY_CREATE, bus.KEY_LIST, bus.KEY_UPDATE, bus.KEY_REVOKE, bus.USAGE_QUERY),
    "oauth": (bus.CREDENTIAL_ADD,),
}
_HEARS: dict[str, tuple[Event[Any], ...]] = {
    "gateway": (bus.KEY_EVENTS, bus.CATALOGUE_EVENTS, bus.POOL_EVENTS),
    "dashboard": (bus.CREDENTIAL_EVENTS, bus.TRAFFIC_EVENTS),
    "oauth": (),
}


def nats_permissions(namespace: str = DEFAULT_NAMESPACE) -> dict[str, Permissions]:
    """Each service's NATS permissions for one bus namespace (besides the table: its own inbox)."""
    b = f"{namespace}.v1"
    perms = {
        name: Permissions(
            publish=tuple(entry.subject(namespace) for entry in _SENDS[name]),
            subscribe=(*(event.subject(namespace) for event in _HEARS[name]), f"{SERVICE_INBOXES[name]}.>"),
        )
        for name in _SENDS
    }
    perms["broker"] = Permissions(
        publish=(f"{b}.events.>",),
        subscribe=(f"{b}.>", "$SRV.>", f"{SERVICE_INBOXES['broker']}.>"),
        allow_responses=True,
    )
    return perms


def _nats_user(user: str, password: str, perms: Permissions) -> dict[str, Any]:
    permissions: dict[str, Any] = {
        "publish": {"allow": list(perms.publish)},
        "subscribe": {"allow": list(perms.subscribe)},
    }
    if perms.allow_responses:
        permissions["allow_responses"] = True
    return {"user": user, "password": password, "permissions": permissions}


def render_nats_conf(
    passwords: dict[str, str],
    *,
    port: int,
    namespace: str = DEFAULT_NAMESPACE,
    host: str = "127.0.0.1",
    tls: dict[str, str] | None = None,
) -> str:
    """A nats-server config (JSON is valid NATS config syntax) with one user per service."""
    perms = nats_permissions(namespace)
    conf: dict[str, Any] = {
        "host": host,
        "port": port,
        "max_payload": 1048576,
        "authorization": {"users": [_nats_user(name, passwords[name], perms[name]) for name in passwords]},
    }
    if tls:
        conf["tls"] = dict(tls)
    return json.dumps(conf, indent=2) + "\n"


def _redis_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def redis_acl_lines(passwords: dict[str, str]) -> list[str]:
    lines = ["user default off resetpass -@all"]
    for name, password in passwords.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        lines.append(f"user {name} on #{digest} {REDIS_RULES}")
    return lines


def render_redis_conf(
    passwords: dict[str, str],
    *,
    port: int,
    data_dir: Path,
    host: str = "127.0.0.1",
    tls: dict[str, str] | None = None,
) -> str:
    """A redis-server config: protected mode, no anonymous user, one ACL user per service,
    append-only persistence (fsync always) in `data_dir`. With `tls` (cert_file, key_file,
    ca_file) the port speaks TLS only."""
    lines = [
        f"bind {host}",
        "protected-mode yes",
        f"dir {_redis_quote(str(data_dir))}",
        'save ""',
        "appendonly yes",
        "appendfsync always",
    ]
    if tls:
        lines += [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {_redis_quote(tls['cert_file'])}",
            f"tls-key-file {_redis_quote(tls['key_file'])}",
            f"tls-ca-cert-file {_redis_quote(tls['ca_file'])}",
            "tls-auth-clients optional",
        ]
    else:
        lines.append(f"port {port}")
    return "\n".join([*lines, *redis_acl_lines(passwords)]) + "\n"


def new_passwords(names: Iterable[str]) -> dict[str, str]:
    return {name: secrets.token_urlsafe(24) for name in names}


def private_dir(path: Path) -> Path:
    """`path` created if needed, mode 0700."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path`, mode 0600 from the first byte (never readable by others)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)
    return path


def make_private_tree(root: Path) -> None:
    """Folders 0700 and files 0600 below `root` (data written by an older, laxer runner)."""
    if not root.exists():
        return
    root.chmod(0o700)
    for current, dirs, files in os.walk(root):
        for name in dirs:
            (Path(current) / name).chmod(0o700)
        for name in files:
            path = Path(current) / name
            if not path.is_symlink():
                path.chmod(0o600)


def with_userinfo(url: str, user: str, password: str) -> str:
    """`scheme://user:password@rest` (the URL had no credentials)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{user}:{password}@{rest}"


@dataclass
class BusCredentials:
    """The per-service passwords of one runner start."""

    nats: dict[str, str] = field(default_factory=lambda: new_passwords(NATS_SERVICES))
    redis: dict[str, str] = field(default_factory=lambda: new_passwords(REDIS_SERVICES))

    def nats_url(self, base: str, service: str) -> str:
        return with_userinfo(base, service, self.nats[service])

    def redis_url(self, base: str, service: str) -> str:
        return with_userinfo(base, service, self.redis[service])
