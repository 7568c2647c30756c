"""Calls to the token-broker over NATS request-reply (the `kiroproto.bus` contracts).

Error tree (translated once, here):

    BrokerError
    ├── BrokerUnavailable   timeout, no responders, connection closed / reconnecting
    └── BrokerRefused       the broker answered with a nats.micro service error (code, description)

Used by the dashboard (pool status, credential actions) and the oauth service (credential add).
Never logs a payload: a `CredentialAdd` carries refresh tokens and client secrets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import nats.errors
from pydantic import BaseModel, ValidationError

from kiroproto.bus import (
    Ack,
    CredentialAction,
    CredentialAdd,
    CredentialAddResult,
    PoolStatus,
    PoolStatusRequest,
    Subjects,
)

_ERROR_HEADER = "Nats-Service-Error"
_ERROR_CODE_HEADER = "Nats-Service-Error-Code"

M = TypeVar("M", bound=BaseModel)


class BrokerError(Exception):
    """Root of the broker-call errors."""


class BrokerUnavailable(BrokerError):
    """NATS or the broker did not answer in time."""


class BrokerRefused(BrokerError):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class BrokerClient:
    def __init__(
        self,
        nc: Any,
        subjects: Subjects,
        timeout_s: float,
        observe: Callable[[str, float, bool], None] | None = None,
    ) -> None:
        self._nc = nc
        self._subjects = subjects
        self._timeout_s = timeout_s
        self._observe = observe  # (call, seconds, failed): NATS latency and error metrics

    async def _call(
        self, subject: str, payload: BaseModel, reply_type: type[M], timeout_s: float | None
    ) -> M:
        data = payload.model_dump_json(by_alias=True).encode()
        started = time.perf_counter()
        try:
            msg = await self._nc.request(subject, data, timeout=timeout_s or self._timeout_s)
            if self._observe is not None:
                self._observe(".".join(subject.split(".")[-2:]), time.perf_counter() - started, False)
        except (
            nats.errors.TimeoutError,
            nats.errors.NoRespondersError,
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.ConnectionDrainingError,
        ) as exc:
            if self._observe is not None:
                self._observe(".".join(subject.split(".")[-2:]), time.perf_counter() - started, True)
            raise BrokerUnavailable(f"the token-broker did not answer on {subject}") from exc
        headers = msg.headers or {}
        if _ERROR_HEADER in headers:
            try:
                code = int(headers.get(_ERROR_CODE_HEADER, "500"))
            except ValueError:
                code = 500
            raise BrokerRefused(code, str(headers[_ERROR_HEADER]))
        try:
            return reply_type.model_validate_json(msg.data)
        except ValidationError as exc:
            raise BrokerRefused(502, f"unexpected reply on {subject}") from exc

    async def pool_status(self) -> PoolStatus:
        return await self._call(self._subjects.pool_status, PoolStatusRequest(), PoolStatus, None)

    async def action(self, action: CredentialAction, timeout_s: float | None = None) -> Ack:
        return await self._call(self._subjects.credential_action, action, Ack, timeout_s)

    async def add(self, request: CredentialAdd, timeout_s: float | None = None) -> CredentialAddResult:
        return await self._call(self._subjects.credential_add, request, CredentialAddResult, timeout_s)
