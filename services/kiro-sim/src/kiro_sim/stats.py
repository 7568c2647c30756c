"""Exact counters that tests assert on ("exactly one refresh", "never more than N streams").

Everything runs on one event loop, so plain integer updates are exact. Three levels: global
totals, per account, per access token. A chat request is "open" from the moment its bearer
token is accepted until its response ended (completed, cut, or the client went away); the
peak of that number per token / account / globally is kept.

Deliberately not here: logging (the routes log), or anything that would slow the chat path
beyond a few attribute updates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

MCP_LOG_MAX = 200


@dataclass(slots=True)
class StreamGauge:
    open: int = 0
    peak: int = 0

    def enter(self) -> None:
        self.open += 1
        if self.open > self.peak:
            self.peak = self.open

    def leave(self) -> None:
        self.open -= 1

    def as_dict(self) -> dict[str, int]:
        return {"open_streams": self.open, "peak_open_streams": self.peak}


@dataclass(slots=True)
class Outcomes:
    """Counters shared by the totals and each account."""

    chat_requests: int = 0
    chat_streams: int = 0  # 200 responses
    completed_streams: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    scripted_errors: int = 0
    midstream_exceptions: int = 0
    cut_connections: int = 0
    disconnects: int = 0
    refresh_calls: int = 0
    usage_calls: int = 0
    models_calls: int = 0
    mcp_calls: int = 0
    credits_charged: float = 0.0
    streams: StreamGauge = field(default_factory=StreamGauge)

    def as_dict(self) -> dict[str, Any]:
        """Every counter under its field name, the stream gauge as open and peak."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "streams"}
        out["rejections"] = dict(self.rejections)
        out["credits_charged"] = round(self.credits_charged, 6)
        return out | self.streams.as_dict()


@dataclass(slots=True)
class AccountStats:
    outcomes: Outcomes = field(default_factory=Outcomes)
    refresh_calls_by_token: Counter[str] = field(default_factory=Counter)
    last_request: Any = None
    last_request_headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class TokenStats:
    account_id: str
    requests: int = 0
    streams: StreamGauge = field(default_factory=StreamGauge)

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "requests": self.requests} | self.streams.as_dict()


@dataclass(slots=True)
class Stats:
    totals: Outcomes = field(default_factory=Outcomes)
    oidc_token_calls: int = 0
    device_polls: int = 0
    logins: int = 0
    accounts: dict[str, AccountStats] = field(default_factory=dict)
    tokens: dict[str, TokenStats] = field(default_factory=dict)
    mcp_requests: list[dict[str, Any]] = field(default_factory=list)  # the last MCP_LOG_MAX

    def record_mcp(self, account_id: str, body: Any, headers: dict[str, str]) -> None:
        """One `POST /mcp` as it arrived (authorization redacted), for tests to inspect."""
        shown = {k: ("<redacted>" if k == "authorization" else v) for k, v in headers.items()}
        self.mcp_requests.append({"account_id": account_id, "body": body, "headers": shown})
        del self.mcp_requests[:-MCP_LOG_MAX]

    def account(self, account_id: str) -> AccountStats:
        found = self.accounts.get(account_id)
        if found is None:
            found = self.accounts[account_id] = AccountStats()
        return found

    def token(self, token: str, account_id: str) -> TokenStats:
        found = self.tokens.get(token)
        if found is None:
            found = self.tokens[token] = TokenStats(account_id)
        return found

    def reject(self, rule: str, account_id: str | None) -> None:
        key = str(rule)  # a Rule (StrEnum) becomes its plain name
        self.totals.rejections[key] += 1
        if account_id is not None:
            self.account(account_id).outcomes.rejections[key] += 1

    def as_dict(self, include_bodies: bool = True) -> dict[str, Any]:
        totals = self.totals.as_dict()
        totals.update(
            oidc_token_calls=self.oidc_token_calls, device_polls=self.device_polls, logins=self.logins
        )
        accounts: dict[str, Any] = {}
        for account_id, acc in self.accounts.items():
            entry = acc.outcomes.as_dict()
            entry["refresh_calls_by_token"] = dict(acc.refresh_calls_by_token)
            if include_bodies:
                entry["last_request"] = acc.last_request
                entry["last_request_headers"] = acc.last_request_headers
            accounts[account_id] = entry
        return {
            "totals": totals,
            "accounts": accounts,
            "access_tokens": {token: ts.as_dict() for token, ts in self.tokens.items()},
            "mcp_requests": list(self.mcp_requests) if include_bodies else [],
        }
