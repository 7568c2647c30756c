"""Inbound HTTP limits (CONTRACTS.md "Inbound HTTP limits"), shared by every listening service.

`InboundLimits` reads the settings from the environment (unprefixed, one set for all services):

- `HTTP_MAX_HEAD_BYTES` (`65536`): request line + headers; more → 431, the connection closes;
- `HTTP_HEAD_TIMEOUT` (`15s`): a request head must arrive within this, counted from the
  connection or, on a kept-alive one, from its first byte; else 408 (or a close if nothing came);
- `HTTP_BODY_IDLE_TIMEOUT` (`60s`): a request body that sends nothing this long → 408, close;
- `HTTP_KEEPALIVE_TIMEOUT` (`75s`): an idle kept-alive connection closes;
- `HTTP_MAX_CONNECTIONS` (`4096`, kept below the open-file limit): per process; beyond it the
  oldest connection that is not being served closes, or the new one if every one is busy;
- `HTTP_MAX_CONNECTIONS_PER_ADDRESS` (`256`): per client address; beyond it that address's
  oldest connection that is not being served closes.

None of them ever cuts a response in progress: the timers only run while the server waits for a
request head or for request body bytes, and only connections without a request in flight are
ever closed to make room.

`server_options(limits)` gives the uvicorn options that install them (the protocol class in
`inbound_protocol.py`), `raise_open_file_limit()` lifts the soft RLIMIT_NOFILE to the hard one
(call it once at start, before serving).
"""

from __future__ import annotations

import logging
import resource
import sys
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kiroproto.upstream import parse_duration

log = logging.getLogger(__name__)

PROTOCOL = "kiro_service.inbound_protocol:InboundHttpProtocol"
_FD_RESERVE = 64  # files a process needs besides its client connections (NATS, Redis, logs, upstream)


class InboundLimits(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, env_prefix="HTTP_"
    )

    max_head_bytes: int = Field(default=64 * 1024, ge=1024)
    head_timeout: float = Field(default=15.0, gt=0.0)
    body_idle_timeout: float = Field(default=60.0, gt=0.0)
    keepalive_timeout: float = Field(default=75.0, gt=0.0)
    max_connections: int = Field(default=4096, ge=1)
    max_connections_per_address: int = Field(default=256, ge=1)

    @field_validator("head_timeout", "body_idle_timeout", "keepalive_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        return value

    def connection_cap(self) -> int:
        """`max_connections`, kept below the process's open-file limit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - _FD_RESERVE))


def load_limits(service: str) -> InboundLimits:
    """The limits from the environment; a bad value ends the process with one line and exit 2."""
    try:
        return InboundLimits()
    except ValidationError as exc:
        reasons = "; ".join(
            f"HTTP_{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        sys.stderr.write(f"{service}: invalid configuration: {reasons}\n")
        raise SystemExit(2) from None


def server_options(limits: InboundLimits) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config` / `uvicorn.run`: the limited HTTP/1.1 protocol
    (by import path, so `workers=N` can start it too) and the keep-alive timeout. The protocol
    reads its limits from `config.kiro_inbound_limits` when set, else from the environment."""
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": max(1, round(limits.keepalive_timeout)),
    }


def attach_limits(config: object, limits: InboundLimits) -> None:
    """Give a `uvicorn.Config` these limits (instead of the environment's)."""
    setattr(config, "kiro_inbound_limits", limits)  # noqa: B010 - uvicorn.Config has no such field


def raise_open_file_limit() -> tuple[int, int]:
    """Lift the soft RLIMIT_NOFILE to the hard limit (so many idle connections cannot starve the
    process of files); returns the (soft, hard) pair now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit", extra={"error": str(exc)})
    return soft, hard
