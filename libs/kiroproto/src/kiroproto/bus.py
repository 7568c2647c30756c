"""The NATS bus contracts: the messages, and the table that ties each subject to them.

Every request-reply endpoint is declared once, at the end of this module, as an
`Endpoint[Request, Reply]` (name, subject suffix, request model, reply model, the service error
codes it may answer); every published event as an `Event[Message]`. The broker registers its
endpoints from `BROKER_ENDPOINTS`, and the one client (`kiro_service.bus.BusClient`) is typed by
them. The token-broker answers every request subject in the queue group `BROKER_QUEUE_GROUP`.
Subjects are versioned (`<namespace>.v1.<suffix>`); the namespace (default `kiro`) lets tests and
several deployments share one NATS. Payloads are these pydantic models as JSON. Access tokens
travel in `LeaseGrant`; services must never log a grant.

Deliberately not here: the NATS client, timeouts and retries (the services own I/O).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from kiroproto.credentials import AuthKind, CredentialConfig

BROKER_QUEUE_GROUP = "token-broker"
DEFAULT_NAMESPACE = "kiro"


class _Msg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------- leases


class KeyLimits(_Msg):
    """A team key's limits; None means unlimited. Counted per team (all the team's keys together)."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)  # input + output tokens
    max_concurrent: int | None = Field(default=None, ge=1)
    monthly_token_budget: int | None = Field(default=None, ge=0)  # input + output, calendar month (UTC)
    monthly_credit_budget: float | None = Field(default=None, ge=0)  # credits (meteringEvent), month (UTC)


class Admission(_Msg):
    """Sent with the first lease request of a team-key client request: the broker checks and
    counts the team's limits atomically in Redis before it chooses a credential."""

    key_id: str
    team: str
    limits: KeyLimits = KeyLimits()


class LimitState(_Msg):
    """The team's counters after an admission (for the rate-limit response headers)."""

    requests_limit: int | None = None  # per minute
    requests_remaining: int | None = None
    requests_reset_at: float | None = None  # epoch seconds
    tokens_limit: int | None = None  # per minute
    tokens_remaining: int | None = None
    tokens_reset_at: float | None = None  # epoch seconds
    budget_tokens: int | None = None  # per calendar month (UTC)
    budget_remaining: int | None = None
    budget_resets_at: float | None = None  # epoch seconds: the next month's start
    budget_credits: float | None = None  # Kiro credits per calendar month
    budget_credits_remaining: float | None = None


class LeaseRequest(_Msg):
    request_id: str
    model: str  # Kiro model id, e.g. "claude-sonnet-4.5"
    exclude: tuple[str, ...] = ()  # credential ids that already failed this request
    wait_ms: int | None = None  # None: the broker's SESSION_POOL_WAIT
    admission: Admission | None = None  # team key: check and count the team's limits first
    # With an admission: only count the request in the team's requests-per-minute window (no
    # lease, no concurrency slot, no tokens): `count_tokens`. Answered `LeaseAdmitted` or denied.
    admission_only: bool = False
    # The client's session (X-Claude-Code-Session-Id, metadata.user_id's session_id, OpenAI
    # `user`): the broker prefers the account that served the session before.
    session_id: str | None = Field(default=None, max_length=200)
    # A lease the asking replica already holds and hands to this request (a reused slot, see
    # `LeaseGrant.reuse_s`): with an admission, admit the team as for a new lease (budgets,
    # concurrency, rate) and answer `LeaseAdmitted`; no new lease is taken.
    reused_lease: str | None = Field(default=None, max_length=64)


class CatalogueModel(_Msg):
    """One model of one account's live catalogue (`ListAvailableModels`, reference §11.1, §19.4).

    Kept per account by the broker; the lease grant carries the entry of the model it was
    granted for, so the gateway knows the serving account's context window and, on the newer
    host, the schema its `additionalModelRequestFields` must validate against.
    """

    id: str  # Kiro model id, e.g. "claude-opus-4.8"
    context_window: int | None = None  # tokenLimits.maxInputTokens
    max_output_tokens: int | None = None  # tokenLimits.maxOutputTokens
    rate_multiplier: float | None = None
    prompt_caching: bool | None = None
    request_fields_schema: dict[str, object] | None = None  # additionalModelRequestFieldsSchema


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
    limits: LimitState | None = None  # set when the request carried an Admission
    # The serving account's catalogue entry for the granted model; None while unknown.
    model_info: CatalogueModel | None = None
    # For this many seconds after the grant, the replica may hand the slot to its next requests
    # for the same model after a success instead of releasing it (0: release after one request;
    # the broker sends 0 for a half-open probe lease). The final release counts every use.
    reuse_s: float = 0.0


class DenialReason(StrEnum):
    POOL_BUSY = "pool_busy"  # every usable credential at its cap for SESSION_POOL_WAIT -> 429
    NO_CREDENTIAL = "no_credential"  # none can serve (cooling, parked, invalid, disabled) -> 529/503
    NOT_CONFIGURED = "not_configured"  # the pool is empty -> 529/503
    TEAM_RATE_LIMITED = "team_rate_limited"  # the team's rpm / tpm / concurrency limit -> 429
    TEAM_BUDGET = "team_budget"  # the team's monthly token or credit budget is spent -> 429


class LeaseDenied(_Msg):
    type: Literal["denied"] = "denied"
    reason: DenialReason
    message: str
    retry_after_s: float
    limits: LimitState | None = None  # set when the request carried an Admission


class LeaseAdmitted(_Msg):
    """The answer to an `admission_only` request the team's limits let through."""

    type: Literal["admitted"] = "admitted"
    limits: LimitState


LeaseReply = Annotated[LeaseGrant | LeaseDenied | LeaseAdmitted, Field(discriminator="type")]


class LeaseReplyEnvelope(_Msg):
    reply: LeaseReply


class Outcome(StrEnum):
    """How an upstream attempt ended, by failure class (kiro-protocol.md §8.3)."""

    SUCCESS = "success"
    THROTTLED = "throttled"  # 429 account speed -> exponential back-off, never shorter than Retry-After
    QUOTA_EXHAUSTED = "quota_exhausted"  # 402 / 429 quota reasons -> parked until the reset (daily: next day)
    TOKEN_INVALID = "token_invalid"  # 401/403 bearer invalid -> refresh
    SUSPENDED = "suspended"  # 403 suspension -> disabled; 429 "suspicious activity" -> long cooldown
    MODEL_CAPACITY = "model_capacity"  # the model is short of capacity for everyone -> no penalty
    SERVER_ERROR = "server_error"  # 5xx -> transient failure
    NETWORK_ERROR = "network_error"  # connect/read error -> transient failure
    BAD_REQUEST = "bad_request"  # 400: the request's fault, not the credential's
    MODEL_UNAVAILABLE = "model_unavailable"  # INVALID_MODEL_ID for this account
    CANCELLED = "cancelled"  # the client went away


# Outcomes the broker applies no penalty for (no error count, no cooldown, no last error).
NO_PENALTY_OUTCOMES = frozenset(
    {
        Outcome.SUCCESS,
        Outcome.BAD_REQUEST,
        Outcome.CANCELLED,
        Outcome.MODEL_UNAVAILABLE,
        Outcome.MODEL_CAPACITY,
    }
)


class LeaseRelease(_Msg):
    lease_id: str
    credential_id: str
    outcome: Outcome
    status_code: int | None = None
    retry_after_s: float | None = None
    message: str | None = None  # upstream message, already free of secrets
    reason: str | None = None  # the upstream's `reason` (reference §19.3), e.g. DAILY_REQUEST_COUNT
    token_fingerprint: str | None = None
    credits: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    # Requests served under this lease (a reused slot serves several; 0: a spare slot that
    # served none); the token counts and credits above are their sums, and all but the last
    # ended in success.
    uses: int = Field(default=1, ge=0)


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
    RETIRED = "retired"  # came from KIRO_AUTH_TOKEN and is no longer in it


CredentialSource = Literal["config", "oauth", "admin"]


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
    source: CredentialSource | None = None  # None: recorded before sources were kept
    models: tuple[CatalogueModel, ...] = ()  # the account's live catalogue; empty until known
    catalogue_at: float | None = None  # when the catalogue was fetched (None: unknown)


class PoolStatusRequest(_Msg):
    pass


class PoolStatus(_Msg):
    total: int
    active: int
    in_flight: int
    credentials: tuple[CredentialStatus, ...]
    generated_at: float


class PoolModelsRequest(_Msg):
    pass


class PoolModels(_Msg):
    """What the pool can serve now (gateway model resolution and `/v1/models`).

    `models`: the union of the known catalogues of the accounts in rotation (per model the
    largest context window). `unknown_accounts`: accounts in rotation whose catalogue is not
    known yet; they are eligible for every model.
    """

    models: tuple[CatalogueModel, ...] = ()
    accounts: int = 0
    unknown_accounts: int = 0
    generated_at: float = 0.0


class CatalogueEvent(_Msg):
    credential_id: str
    at: float


class CredentialAdd(_Msg):
    credential: CredentialConfig
    verify: bool = True  # refresh once before accepting (API keys: fetch the catalogue)
    source: Literal["oauth", "admin"] = "admin"


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


class TrafficCounts(_Msg):
    """The traffic counters (`kiroproto.traffic`) of the requests that finished in one second."""

    second: int  # epoch second
    counts: dict[str, int]


class TrafficReport(_Msg):
    """Published by each gateway replica about once a second: what its finished requests add to
    the traffic history (one message per replica, not one per request)."""

    replica: str
    seconds: list[TrafficCounts]


class LeaseEvent(_Msg):
    """Published on `events_lease` when a lease ends, so waiting brokers retry at once."""

    credential_id: str
    kind: Literal["released"] = "released"
    at: float


class PoolEvent(_Msg):
    """Published on `events_pool` when a lease request starts waiting for a full pool (no other
    request was waiting): gateways stop reusing the slots they hold (each goes back to the
    broker when its current request ends), so waiting replicas get their turn."""

    kind: Literal["waiting"] = "waiting"
    at: float


# ---------------------------------------------------------------- team keys and usage


class TeamKey(_Msg):
    """A team key as stored and shown: never the key itself (`hint` is its start and last 4)."""

    id: str
    team: str
    name: str = ""
    hint: str
    allowed_models: tuple[str, ...] = ()  # glob patterns (case-insensitive); empty: every model
    limits: KeyLimits = KeyLimits()
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None


TEAM_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class KeyCreate(_Msg):
    team: str = Field(pattern=TEAM_NAME_PATTERN)
    name: str = Field(default="", max_length=200)
    allowed_models: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = Field(
        default=(), max_length=50
    )
    limits: KeyLimits = KeyLimits()
    expires_at: float | None = None


class KeyCreated(_Msg):
    ok: bool
    message: str | None = None
    key: TeamKey | None = None
    secret: str | None = None  # the key itself: shown once, never stored


class KeyUpdate(_Msg):
    """Only the fields that are set change (`clear_expiry` removes the expiry)."""

    id: str
    name: str | None = Field(default=None, max_length=200)
    allowed_models: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] | None = Field(
        default=None, max_length=50
    )
    limits: KeyLimits | None = None
    expires_at: float | None = None
    clear_expiry: bool = False


class KeyRevoke(_Msg):
    id: str


class KeyReply(_Msg):
    ok: bool
    message: str | None = None
    key: TeamKey | None = None


class KeyListRequest(_Msg):
    team: str | None = None


class KeyList(_Msg):
    keys: tuple[TeamKey, ...]


class KeyLookup(_Msg):
    key_hash: str  # hex SHA-256 of the presented key


class KeyLookupReply(_Msg):
    key: TeamKey | None = None


class KeyEvent(_Msg):
    """Published on `events_key` when a key changes; gateways drop it from their caches."""

    key_id: str
    kind: Literal["created", "updated", "revoked"]
    at: float


UsageOutcome = Literal["ok", "error", "rejected"]


class UsageRecord(_Msg):
    """One finished team-key request, as the client saw it. Idempotent by `request_id`."""

    request_id: str
    key_id: str
    team: str
    model: str  # the Kiro model id
    outcome: UsageOutcome
    admitted: bool = False  # it holds a concurrency slot that ends now
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    credits: float = Field(default=0.0, ge=0.0)
    at: float  # epoch seconds when the request ended
    web_search_requests: int = Field(default=0, ge=0)  # searches run for the answer (MCP web search)


class UsageBatch(_Msg):
    records: tuple[UsageRecord, ...]


class UsageQuery(_Msg):
    """Days are UTC dates `YYYY-MM-DD`, both ends included; at most 31 days per query."""

    start: str
    end: str
    team: str | None = None


class UsageRow(_Msg):
    day: str
    team: str
    key_id: str
    model: str
    requests: int = 0
    errors: int = 0
    rejected: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    credits: float = 0.0
    web_search_requests: int = 0


class TeamBudget(_Msg):
    team: str
    month: str  # YYYY-MM (UTC)
    spent_tokens: int
    budget_tokens: int | None = None  # the largest budget among the team's live keys; None: unlimited
    spent_credits: float = 0.0
    budget_credits: float | None = None  # the largest credit budget among the team's live keys


class UsageReport(_Msg):
    rows: tuple[UsageRow, ...]
    budgets: tuple[TeamBudget, ...] = ()


# ---------------------------------------------------------------- the bus table


class ServiceErrorCode(IntEnum):
    """The codes of a nats.micro error reply (`Nats-Service-Error-Code`), one set for the bus."""

    BAD_REQUEST = 400  # the request does not parse, or asks what cannot be served
    INTERNAL = 500  # a bug in the answering service (logged there)
    UNAVAILABLE = 503  # the answering service cannot reach its store (Redis)


Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)
Msg = TypeVar("Msg", bound=BaseModel)

_ANY_FAILURE = frozenset(ServiceErrorCode)
_NO_STORE = frozenset({ServiceErrorCode.BAD_REQUEST, ServiceErrorCode.INTERNAL})


def subject_of(namespace: str, suffix: str) -> str:
    return f"{namespace}.v1.{suffix}"


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[Req, Rep]):
    """One request-reply subject: what is sent, what comes back, which error codes may."""

    name: str  # the nats.micro endpoint name (and the client's metric / span label)
    suffix: str  # the subject after `<namespace>.v1.`
    request: type[Req]
    reply: type[Rep]
    errors: frozenset[ServiceErrorCode] = _ANY_FAILURE

    def subject(self, namespace: str = DEFAULT_NAMESPACE) -> str:
        return subject_of(namespace, self.suffix)


@dataclass(frozen=True, slots=True)
class Event(Generic[Msg]):
    """One published subject (no reply)."""

    name: str
    suffix: str
    message: type[Msg]

    def subject(self, namespace: str = DEFAULT_NAMESPACE) -> str:
        return subject_of(namespace, self.suffix)


# Leases (the gateway), pool state and credential administration (gateway, dashboard, oauth).
LEASE_ACQUIRE = Endpoint("lease_acquire", "lease.acquire", LeaseRequest, LeaseReplyEnvelope)
LEASE_RELEASE = Endpoint("lease_release", "lease.release", LeaseRelease, Ack)
LEASE_RENEW = Endpoint("lease_renew", "lease.renew", LeaseRenew, Ack)
POOL_STATUS = Endpoint("pool_status", "pool.status", PoolStatusRequest, PoolStatus)
POOL_MODELS = Endpoint("pool_models", "pool.models", PoolModelsRequest, PoolModels, _NO_STORE)
CREDENTIAL_ADD = Endpoint("credential_add", "credential.add", CredentialAdd, CredentialAddResult)
CREDENTIAL_ACTION = Endpoint("credential_action", "credential.action", CredentialAction, Ack)
BROKER_PING = Endpoint("broker_ping", "broker.ping", BrokerPing, BrokerPong, _NO_STORE)
# Team keys and usage (the broker owns them in Redis).
KEY_CREATE = Endpoint("key_create", "key.create", KeyCreate, KeyCreated)
KEY_LIST = Endpoint("key_list", "key.list", KeyListRequest, KeyList)
KEY_UPDATE = Endpoint("key_update", "key.update", KeyUpdate, KeyReply)
KEY_REVOKE = Endpoint("key_revoke", "key.revoke", KeyRevoke, KeyReply)
KEY_LOOKUP = Endpoint("key_lookup", "key.lookup", KeyLookup, KeyLookupReply)
USAGE_RECORD = Endpoint("usage_record", "usage.record", UsageBatch, Ack)
USAGE_QUERY = Endpoint("usage_query", "usage.query", UsageQuery, UsageReport)

LEASE_ENDPOINTS: tuple[Endpoint[Any, Any], ...] = (
    LEASE_ACQUIRE,
    LEASE_RELEASE,
    LEASE_RENEW,
    POOL_STATUS,
    CREDENTIAL_ADD,
    CREDENTIAL_ACTION,
    BROKER_PING,
    POOL_MODELS,
)
TEAM_ENDPOINTS: tuple[Endpoint[Any, Any], ...] = (
    KEY_CREATE,
    KEY_LIST,
    KEY_UPDATE,
    KEY_REVOKE,
    KEY_LOOKUP,
    USAGE_RECORD,
    USAGE_QUERY,
)
BROKER_ENDPOINTS = LEASE_ENDPOINTS + TEAM_ENDPOINTS  # every endpoint the token-broker answers

# Published (no reply).
CREDENTIAL_EVENTS = Event("events_credential", "events.credential", CredentialEvent)  # broker
LEASE_EVENTS = Event("events_lease", "events.lease", LeaseEvent)  # broker: wakes waiting brokers
CATALOGUE_EVENTS = Event("events_catalogue", "events.catalogue", CatalogueEvent)  # broker: refetch models
KEY_EVENTS = Event("events_key", "events.key", KeyEvent)  # broker: gateways drop cached keys
POOL_EVENTS = Event("events_pool", "events.pool", PoolEvent)  # broker: gateways stop slot reuse
TRAFFIC_EVENTS = Event("events_traffic", "events.traffic", TrafficReport)  # gateway: traffic history
EVENTS: tuple[Event[Any], ...] = (
    CREDENTIAL_EVENTS,
    LEASE_EVENTS,
    CATALOGUE_EVENTS,
    KEY_EVENTS,
    POOL_EVENTS,
    TRAFFIC_EVENTS,
)


class Subjects:
    """Every subject of the table for one namespace, as attributes named like the table's entries."""

    __slots__ = (
        "broker_ping",
        "credential_action",
        "credential_add",
        "events_catalogue",
        "events_credential",
        "events_key",
        "events_lease",
        "events_pool",
        "events_traffic",
        "key_create",
        "key_list",
        "key_lookup",
        "key_revoke",
        "key_update",
        "lease_acquire",
        "lease_release",
        "lease_renew",
        "namespace",
        "pool_models",
        "pool_status",
        "usage_query",
        "usage_record",
    )

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self.lease_acquire = LEASE_ACQUIRE.subject(namespace)
        self.lease_release = LEASE_RELEASE.subject(namespace)
        self.lease_renew = LEASE_RENEW.subject(namespace)
        self.pool_status = POOL_STATUS.subject(namespace)
        self.pool_models = POOL_MODELS.subject(namespace)
        self.credential_add = CREDENTIAL_ADD.subject(namespace)
        self.credential_action = CREDENTIAL_ACTION.subject(namespace)
        self.broker_ping = BROKER_PING.subject(namespace)
        self.key_create = KEY_CREATE.subject(namespace)
        self.key_list = KEY_LIST.subject(namespace)
        self.key_update = KEY_UPDATE.subject(namespace)
        self.key_revoke = KEY_REVOKE.subject(namespace)
        self.key_lookup = KEY_LOOKUP.subject(namespace)
        self.usage_record = USAGE_RECORD.subject(namespace)
        self.usage_query = USAGE_QUERY.subject(namespace)
        self.events_credential = CREDENTIAL_EVENTS.subject(namespace)
        self.events_lease = LEASE_EVENTS.subject(namespace)
        self.events_catalogue = CATALOGUE_EVENTS.subject(namespace)
        self.events_key = KEY_EVENTS.subject(namespace)
        self.events_pool = POOL_EVENTS.subject(namespace)
        self.events_traffic = TRAFFIC_EVENTS.subject(namespace)
