"""All mutable simulator state of one app instance: accounts, tokens, clients, scripts, stats.

`SimState` is created by `create_app()` and reached through `app.state.sim`; there is no
module-level state. Every method runs on the event loop, so no locks are needed. Time comes
from the injected `clock` (seconds since the epoch), so tests can move it.

Token rules (kiro-protocol.md §9): access tokens expire `access_token_ttl` seconds after
issue; a refresh token is valid until revoked, or, once rotated away, for the account's grace
period (default 0: invalid at once).

Deliberately not here: HTTP (routes), login/device flows (`flows.py`), request validation.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from kiro_sim import tokens
from kiro_sim.accounts import Account, AccountSpec
from kiro_sim.errors import UpstreamError
from kiro_sim.rules import RuleSet
from kiro_sim.script import ScriptSlots
from kiro_sim.settings import SimSettings
from kiro_sim.stats import Stats

Clock = Callable[[], float]


@dataclass(slots=True)
class AccessRecord:
    account: Account
    expires_at: float


@dataclass(slots=True)
class RefreshRecord:
    account: Account
    valid_until: float | None = None  # None: valid (current token)
    revoked: bool = False


@dataclass(slots=True)
class ClientRegistration:
    client_id: str
    client_secret: str
    client_name: str
    issued_at: float
    expires_at: float


@dataclass(slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(slots=True)
class Hold:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0


class SimState:
    def __init__(self, settings: SimSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.rules = RuleSet(settings.disabled_rules)
        self.stats = Stats()
        self.accounts: dict[str, Account] = {}
        self.access: dict[str, AccessRecord] = {}
        self.api_keys: dict[str, Account] = {}
        self.refresh: dict[str, RefreshRecord] = {}
        self.clients: dict[str, ClientRegistration] = {}
        self.token_scripts: dict[str, ScriptSlots] = {}
        self.holds: dict[str, Hold] = {}
        self.next_login_account: str | None = None
        self.request_counter = 0

    # accounts -------------------------------------------------------------------------

    def add_account(self, spec: AccountSpec) -> Account:
        account_id = spec.id or f"acct-{secrets.token_hex(4)}"
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} exists")
        refresh_token = spec.refresh_token or tokens.new_refresh_token()
        if refresh_token in self.refresh:
            raise ValueError("refresh token already belongs to an account")
        api_key = spec.api_key or (tokens.new_api_key() if spec.auth == "api_key" else None)
        if api_key is not None and api_key in self.api_keys:
            raise ValueError("API key already belongs to an account")
        client_id, client_secret = spec.client_id, spec.client_secret
        if spec.auth == "idc":
            client_id = client_id or tokens.new_client_id()
            client_secret = client_secret or tokens.new_client_secret()
            self._ensure_client(client_id, client_secret, "sim-account")
        settings = self.settings
        profile_arn = spec.profile_arn
        if profile_arn is None and spec.auth == "social":
            profile_arn = settings.social_profile_arn
        account = Account(
            id=account_id,
            auth=spec.auth,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            profile_arn=profile_arn,
            credits_limit=settings.default_credits_limit
            if spec.credits_limit is None
            else spec.credits_limit,
            credits_used=spec.credits_used,
            trial_credits=spec.trial_credits,
            bonus_credits=spec.bonus_credits,
            models=list(spec.models) if spec.models is not None else list(settings.default_models),
            rotate_refresh=spec.rotate_refresh,
            refresh_grace_seconds=(
                settings.refresh_grace_seconds
                if spec.refresh_grace_seconds is None
                else spec.refresh_grace_seconds
            ),
            access_token_ttl=spec.access_token_ttl or settings.access_token_ttl,
            refresh_delay_seconds=spec.refresh_delay_seconds,
            suspended=spec.suspended,
            email=spec.email or f"{account_id}@example.com",
            subscription_title=spec.subscription_title,
            api_key=api_key,
            windows=dict(spec.windows or {}),
            request_fields_schemas=spec.request_fields_schemas,
        )
        self.accounts[account_id] = account
        if api_key is not None:
            self.api_keys[api_key] = account
        self.refresh[refresh_token] = RefreshRecord(account)
        self.stats.account(account_id)
        return account

    def _ensure_client(self, client_id: str, client_secret: str, name: str) -> None:
        if client_id not in self.clients:
            now = self.clock()
            self.clients[client_id] = ClientRegistration(
                client_id, client_secret, name, now, now + self.settings.client_secret_ttl
            )

    def register_client(self, name: str) -> ClientRegistration:
        client_id = tokens.new_client_id()
        self._ensure_client(client_id, tokens.new_client_secret(), name)
        return self.clients[client_id]

    def client_ok(self, client_id: object, client_secret: object) -> bool:
        reg = self.clients.get(client_id) if isinstance(client_id, str) else None
        return reg is not None and reg.client_secret == client_secret and self.clock() < reg.expires_at

    # tokens ---------------------------------------------------------------------------

    def issue_access_token(self, account: Account) -> tuple[str, int]:
        token = tokens.new_access_token()
        ttl = account.access_token_ttl
        self.access[token] = AccessRecord(account, self.clock() + ttl)
        account.access_tokens.append(token)
        return token, ttl

    def authenticate(
        self, authorization: str | None, token_type: str | None = None
    ) -> tuple[str, Account] | None:
        """The (token, account) of a valid `Bearer` header, else None. A Kiro API key is valid
        only with `tokentype: API_KEY`, and that header only with an API key (§19.6)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[7:].strip()
        if token.startswith("ksk_") or token_type is not None:
            key_account = self.api_keys.get(token)
            if key_account is None or token_type != "API_KEY":
                return None
            return token, key_account
        record = self.access.get(token)
        if record is None or self.clock() >= record.expires_at:
            return None
        return token, record.account

    def refresh_record(self, refresh_token: object) -> RefreshRecord | None:
        """The record of a presented refresh token if it may still be used, else None."""
        record = self.refresh.get(refresh_token) if isinstance(refresh_token, str) else None
        if record is None or record.revoked:
            return None
        if record.valid_until is not None and self.clock() >= record.valid_until:
            return None
        return record

    def note_refresh(self, presented: object) -> tuple[Account | None, UpstreamError | None]:
        """Count a refresh call against the presented token's account (if the token was ever
        issued) and take that account's scripted refresh fault, if any."""
        known = self.refresh.get(presented) if isinstance(presented, str) else None
        if known is None:
            return None, None
        assert isinstance(presented, str)
        acc_stats = self.stats.account(known.account.id)
        acc_stats.outcomes.refresh_calls += 1
        acc_stats.refresh_calls_by_token[presented] += 1
        fault = known.account.scripts.take("refresh", self.clock())
        return known.account, fault.upstream_error() if fault is not None else None

    def redeem_refresh(self, record: RefreshRecord) -> IssuedTokens:
        """Issue a new access token; rotate the refresh token if the account says so."""
        account = record.account
        if account.rotate_refresh:
            new_token = tokens.new_refresh_token()
            grace_until = self.clock() + account.refresh_grace_seconds
            old = self.refresh.get(account.refresh_token)
            if old is not None and old.valid_until is None:
                old.valid_until = grace_until
            if record is not old and record.valid_until is None:
                record.valid_until = grace_until
            account.refresh_token = new_token
            self.refresh[new_token] = RefreshRecord(account)
        access, ttl = self.issue_access_token(account)
        return IssuedTokens(access, account.refresh_token, ttl)

    def login(self, account: Account) -> IssuedTokens:
        """A fresh login (not a refresh): a new refresh token replaces the current one at once."""
        old = self.refresh.get(account.refresh_token)
        if old is not None and old.valid_until is None:
            old.valid_until = self.clock()
        account.refresh_token = tokens.new_refresh_token()
        self.refresh[account.refresh_token] = RefreshRecord(account)
        access, ttl = self.issue_access_token(account)
        return IssuedTokens(access, account.refresh_token, ttl)

    def revoke_refresh(self, refresh_token: str) -> bool:
        record = self.refresh.get(refresh_token)
        if record is None:
            return False
        record.revoked = True
        return True

    def expire_access_tokens(self, account: Account) -> int:
        now = self.clock()
        count = 0
        for token in account.access_tokens:
            record = self.access.get(token)
            if record is not None and record.expires_at > now:
                record.expires_at = now
                count += 1
        return count

    # holds ------------------------------------------------------------------------------

    async def wait_hold(self, name: str) -> bool:
        """Wait until `name` is released (True) or `hold_timeout` passed (False)."""
        hold = self.holds.get(name)
        if hold is None:
            hold = self.holds[name] = Hold()
        hold.waiting += 1
        try:
            await asyncio.wait_for(hold.event.wait(), self.settings.hold_timeout)
            return True
        except TimeoutError:
            return False
        finally:
            hold.waiting -= 1

    def release_hold(self, name: str) -> int:
        """Release everyone waiting on `name` now; later requests wait on a fresh hold."""
        hold = self.holds.pop(name, None)
        if hold is None:
            return 0
        hold.event.set()
        return hold.waiting

    def holds_view(self) -> dict[str, int]:
        return {name: hold.waiting for name, hold in self.holds.items()}
