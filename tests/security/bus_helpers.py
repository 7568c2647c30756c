"""Helpers of the bus and store security tests (finding 2): servers started with the
authentication that `deploy/` ships or that `make run` generates, and clients per service."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import nats
import yaml

from kiro_service.busconn import SERVICE_INBOXES

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SERVICES = ("gateway", "broker", "dashboard", "oauth")


def shipped_nats_conf(port: int, passwords: dict[str, str]) -> str:
    """deploy/nats/nats.conf with its permission blocks unchanged, listening on loopback:`port`
    (no monitoring port), the `$NATS_<SERVICE>_PASSWORD` variables filled in."""
    text = (DEPLOY / "nats" / "nats.conf").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^port: 4222$", f"listen: 127.0.0.1:{port}", text)
    text = re.sub(r"(?m)^http: .*$", "", text)
    for name, password in passwords.items():
        text = text.replace(f"${'NATS_' + name.upper() + '_PASSWORD'}", f'"{password}"')
    assert "$NATS_" not in text, "a service of deploy/nats/nats.conf has no password here"
    return text


def compose_redis_command(passwords: dict[str, str], port: int, data_dir: Path) -> list[str]:
    """The redis service's command of deploy/compose.yml (its ACL users), the variables filled
    in, on loopback:`port` with `data_dir`; the shipped deploy/redis/redis.conf is its file."""
    doc = yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))
    command: list[str] = list(doc["services"]["redis"]["command"])

    def fill(arg: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            service = name.removeprefix("REDIS_").removesuffix("_PASSWORD").lower()
            return passwords[service]

        return re.sub(r"\$\{(REDIS_[A-Z]+_PASSWORD)(?::\?[^}]*)?\}", one, arg)

    args = [fill(a) for a in command[1:]]
    # The shipped file as it is, but for its folder (`dir /data` is applied while it is read).
    text = (DEPLOY / "redis" / "redis.conf").read_text(encoding="utf-8")
    assert "\ndir /data\n" in text
    conf = data_dir / "redis.conf"
    conf.write_text(text.replace("\ndir /data\n", f'\ndir "{data_dir}"\n'), encoding="utf-8")
    args[0] = str(conf)
    return [*args, "--bind", "127.0.0.1", "--port", str(port)]


async def connect_as(
    url: str, service: str | None, password: str | None, **extra: Any
) -> tuple[Any, list[Exception]]:
    """A NATS client as `service` (its user and reply inbox), or anonymous (`service` None),
    with the list its asynchronous errors (permission violations) are collected in."""
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    options: dict[str, Any] = {
        "connect_timeout": 2,
        "allow_reconnect": False,
        "max_reconnect_attempts": 0,
        "error_cb": on_error,
        **extra,
    }
    if service is not None:
        options["user"] = service
        options["password"] = password
        options.setdefault("inbox_prefix", SERVICE_INBOXES[service])
    return await nats.connect(url, **options), errors


def shell(command: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in command)
