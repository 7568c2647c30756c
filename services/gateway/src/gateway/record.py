"""`RequestRecord`: one client request, as one typed object from the edge to the end.

The lifecycle layer (`lifecycle.py`) creates it when the request arrives and keeps it in the
request's scope (`record_of`); authentication, the routes, the exchange, failover and the client
stream fill in what they learn (the key, the model, attempts, lease waits, time to first token,
the usage the client was told, how the stream ended), each by attribute. When the request ends,
the lifecycle layer derives everything it records from this object, once: the access-log line,
the request metrics, the token metrics, the team's usage record and the traffic tally.

Also here, pure: what the record implies (`usage_outcome`, `usage_record`, `finished_request`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from gateway.limits import TeamTicket
from kiroproto.bus import TeamKey, UsageOutcome, UsageRecord
from kiroproto.stream import Usage
from kiroproto.traffic import FinishedRequest

RECORD_KEY = "record"  # its key in the request's scope["state"]
CHAT_ROUTES = frozenset({"messages", "chat_completions"})  # metrics route labels

# The error type the traffic history shows for a status the client was sent.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    route: str  # the metrics label of the path (metrics.route_label)
    started: float  # time.perf_counter() at the edge
    status: int = 0  # what the client was sent (0: nothing yet)
    team: str = ""  # metrics label: "operator", or the team key's team
    key: TeamKey | None = None  # a team key (authentication)
    ticket: TeamTicket | None = None  # its admission (limits.py): counters for the headers
    requested_model: str | None = None  # the name the client asked for
    model: str | None = None  # the Kiro model id that serves it
    stream: bool | None = None
    attempts: int = 0  # upstream attempts (failover)
    credential_id: str | None = None  # the credential that answered
    queue_s: float | None = None  # waiting for leases, all attempts (None: never asked)
    ttft_s: float | None = None
    input_estimate: int | None = None  # our count of the prompt (the upstream's may replace it)
    usage: Usage | None = None  # what the client was told
    usage_recorded: bool = False  # written ahead, before the client was told
    stream_failed: bool = False
    disconnected: bool = False

    @property
    def chat(self) -> bool:
        return self.route in CHAT_ROUTES

    def waited(self, seconds: float) -> None:
        """Add lease-wait time (for the access log and the traffic history's queue histogram)."""
        self.queue_s = (self.queue_s or 0.0) + seconds

    @property
    def queue_ms(self) -> float | None:
        return round(self.queue_s * 1000, 3) if self.queue_s is not None else None

    @property
    def ttft_ms(self) -> float | None:
        return round(self.ttft_s * 1000, 3) if self.ttft_s is not None else None

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started


def record_of(connection: HTTPConnection | Scope) -> RequestRecord:
    """The request's record (the lifecycle layer put it there)."""
    scope = connection.scope if isinstance(connection, HTTPConnection) else connection
    record: Any = scope.get("state", {}).get(RECORD_KEY)
    if not isinstance(record, RequestRecord):
        raise LookupError("no RequestRecord: the lifecycle layer is not installed")
    return record


def usage_outcome(record: RequestRecord) -> UsageOutcome:
    if record.status == 403 or (record.ticket is not None and record.ticket.rejected):
        return "rejected"
    if record.status >= 400 or record.status == 0 or record.stream_failed or record.usage is None:
        return "error"
    return "ok"


def usage_record(
    record: RequestRecord, key: TeamKey, outcome: UsageOutcome, told: Usage | None
) -> UsageRecord:
    """The team's usage record of this request (`told`: the usage the client was told, if any)."""
    return UsageRecord(
        request_id=record.request_id,
        key_id=key.id,
        team=key.team,
        model=record.model or "unknown",
        outcome=outcome,
        admitted=record.ticket.admitted if record.ticket is not None else False,
        input_tokens=told.prompt_tokens if told else 0,  # cached input counts in team budgets too
        output_tokens=told.output_tokens if told else 0,
        credits=(told.credits or 0.0) if told else 0.0,
        at=time.time(),
        web_search_requests=told.web_search_requests if told else 0,
    )


def finished_request(record: RequestRecord, elapsed_s: float) -> FinishedRequest:
    """The request as the traffic history counts it."""
    error_type = None
    if record.status >= 400 or record.status == 0:
        error_type = _ERROR_TYPES.get(record.status, "api_error")
    elif record.stream_failed:
        error_type = "stream_error"
    usage = record.usage
    return FinishedRequest(
        at=time.time(),
        api="openai" if record.route == "chat_completions" else "anthropic",
        model=record.requested_model or record.model or "unknown",
        status=record.status,
        stream=bool(record.stream),
        duration_ms=round(elapsed_s * 1000, 3),
        ttft_ms=record.ttft_ms,
        input_tokens=usage.prompt_tokens if usage is not None else 0,
        output_tokens=usage.output_tokens if usage is not None else 0,
        error_type=error_type,
        team=record.key.team if record.key is not None else None,
        credential_id=record.credential_id,
        queue_ms=record.queue_ms,
    )
