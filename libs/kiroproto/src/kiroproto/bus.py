"""The NATS bus contracts: subject names and the messages exchanged on them, defined once.

The token-broker answers every request subject in the queue group `BROKER_QUEUE_GROUP`.
Subjects are versioned (`<namespace>.v1....`); the namespace (default `kiro`) lets tests and
several deployments share one NATS. Payloads are these pydantic models as JSON. Access tokens
travel in `LeaseGrant`; services must never log a grant.

Deliberately not here: the NATS client, timeouts and retries (the services own I/O).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kiroproto.credentials import AuthKind, CredentialConfig

BROKER_QUEUE_GROUP = "token-broker"
DEFAULT_NAMESPACE = "kiro"


class Subjects:
    """Subject names for one namespace."""

    __slots__ = (
        "broker_ping",
        "credential_action",
        "credential_add",
        "events_credential",
        "events_lease",
        "events_request",
        "lease_acquire",
        "lease_release",
        "lease_renew",
        "namespace",
        "pool_status",
    )

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        base = f"{namespace}.v1"
        self.namespace = namespace
        self.lease_acquire = f"{base}.lease.acquire"
        self.lease_release = f"{base}.lease.release"
        self.lease_renew = f"{base}.lease.renew"
        self.pool_status = f"{base}.pool.status"
        self.credential_add = f"{base}.credential.add"
        self.credential_action = f"{base}.credential.action"
        self.broker_ping = f"{base}.broker.ping"
        # Published (no reply): state changes for the dashboard and logs.
        self.events_credential = f"{base}.events.credential"
        self.events_lease = f"{base}.events.lease"
        # Published by the gateway after every client request (traffic charts).
        self.events_request = f"{base}.events.request"


class _Msg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------- leases


class LeaseRequest(_Msg):
    request_id: str
    model: str  # Kiro model id, e.g. "claude-sonnet-4.5"
    exclude: tuple[str, ...] = ()  # credential ids that already failed this request
    wait_ms: int | None = None  # None: the broker's SESSION_POOL_WAIT


class LeaseGrant(_Msg):
    type: Literal["grant"] = "grant"
    lease_id: str
    credential_id: str
    auth: AuthKind
    access_token: str
    token_fingerprint: str  # identifies the access token (sent back on a 403)
    profile_arn: str | None = None
    region: str
    machine_id: str
    proxy: str | None = None
    lease_ttl_s: float  # renew before this many seconds pass, or the lease expires


class DenialReason(StrEnum):
    POOL_BUSY = "pool_busy"  # every usable credential at its cap for SESSION_POOL_WAIT -> 429
    NO_CREDENTIAL = "no_credential"  # none can serve (cooling, parked, invalid, disabled) -> 529/503
    NOT_CONFIGURED = "not_configured"  # the pool is empty -> 529/503


class LeaseDenied(_Msg):
    type: Literal["denied"] = "denied"
    reason: DenialReason
    message: str
    retry_after_s: float


LeaseReply = Annotated[LeaseGrant | LeaseDenied, Field(discriminator="type")]


class LeaseReplyEnvelope(_Msg):
    reply: LeaseReply


class Outcome(StrEnum):
    """How an upstream attempt ended, by failure class (kiro-protocol.md §8.3)."""

    SUCCESS = "success"
    THROTTLED = "throttled"  # 429 -> cooldown (Retry-After or SESSION_POOL_COOLDOWN)
    QUOTA_EXHAUSTED = "quota_exhausted"  # 402 -> parked until nextDateReset
    TOKEN_INVALID = "token_invalid"  # 401/403 bearer invalid -> refresh
    SUSPENDED = "suspended"  # 403 suspension -> disabled
    SERVER_ERROR = "server_error"  # 5xx -> transient failure
    NETWORK_ERROR = "network_error"  # connect/read error -> transient failure
    BAD_REQUEST = "bad_request"  # 400: the request's fault, not the credential's
    MODEL_UNAVAILABLE = "model_unavailable"  # INVALID_MODEL_ID for this account
    CANCELLED = "cancelled"  # the client went away


class LeaseRelease(_Msg):
    lease_id: str
    credential_id: str
    outcome: Outcome
    status_code: int | None = None
    retry_after_s: float | None = None
    message: str | None = None  # upstream message, already free of secrets
    token_fingerprint: str | None = None
    credits: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None


class LeaseRenew(_Msg):
    lease_id: str
    credential_id: str


class Ack(_Msg):
    ok: bool = True
    message: str | None = None


# ---------------------------------------------------------------- pool status and admin


class CredentialStatusKind(StrEnum):
    ACTIVE = "active"
    COOLING_DOWN = "cooling_down"
    REFRESHING = "refreshing"
    QUOTA_PARKED = "quota_parked"
    INVALID = "invalid"
    DISABLED = "disabled"


class UsageLimits(_Msg):
    subscription_title: str | None = None
    base_limit: float = 0.0
    base_used: float = 0.0
    free_trial_limit: float = 0.0
    free_trial_used: float = 0.0
    free_trial_active: bool = False
    bonus_limit: float = 0.0
    bonus_used: float = 0.0
    next_reset_at: float | None = None  # epoch seconds
    checked_at: float | None = None

    @property
    def limit(self) -> float:
        return self.base_limit + self.free_trial_limit + self.bonus_limit

    @property
    def used(self) -> float:
        return self.base_used + self.free_trial_used + self.bonus_used

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit - self.used)


class CredentialStatus(_Msg):
    """One credential as the dashboard and `/api/tokens` show it: no secrets, fingerprints only."""

    id: str
    auth: AuthKind
    status: CredentialStatusKind
    reason: str | None = None
    priority: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    access_token_fingerprint: str | None = None
    refresh_token_fingerprint: str | None = None
    access_expires_at: float | None = None
    status_until: float | None = None  # end of cooldown / quota parking
    requests: int = 0
    errors: int = 0
    last_error: str | None = None
    last_used_at: float | None = None
    usage: UsageLimits | None = None
    region: str | None = None


class PoolStatusRequest(_Msg):
    pass


class PoolStatus(_Msg):
    total: int
    active: int
    in_flight: int
    credentials: tuple[CredentialStatus, ...]
    generated_at: float


class CredentialAdd(_Msg):
    credential: CredentialConfig
    verify: bool = True  # refresh once before accepting


class CredentialAddResult(_Msg):
    ok: bool
    credential_id: str | None = None
    message: str | None = None


CredentialActionKind = Literal["disable", "enable", "refresh", "check_usage", "delete", "set_priority"]


class CredentialAction(_Msg):
    credential_id: str
    action: CredentialActionKind
    priority: int | None = None


class BrokerPing(_Msg):
    pass


class BrokerPong(_Msg):
    instance_id: str
    redis_ok: bool


class CredentialEvent(_Msg):
    credential_id: str
    status: CredentialStatusKind
    reason: str | None = None
    at: float


class RequestEvent(_Msg):
    """One finished client request, published by the gateway for the traffic history."""

    at: float  # epoch seconds when the request finished
    api: Literal["anthropic", "openai"]
    model: str  # the model name the client asked for
    status: int  # HTTP status sent to the client (200 for streams that started)
    stream: bool
    duration_ms: float
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error_type: str | None = None
    team: str | None = None
    credential_id: str | None = None


class LeaseEvent(_Msg):
    """Published on `events_lease` when a lease ends, so waiting brokers retry at once."""

    credential_id: str
    kind: Literal["released"] = "released"
    at: float
