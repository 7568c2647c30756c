"""Login flows: OIDC device authorization (kiro-protocol.md §12.2) and social PKCE (§12.1).

`DeviceFlows` keeps device codes: pending until approved or denied through the control API
(or the simulator's `/device` page), `slow_down` when polled faster than the interval (the
interval then grows by 5 s, RFC 8628), `expired_token` after `expiresIn`. `LoginCodes` keeps
the one-time codes of the social login redirect and checks PKCE S256 on exchange.

Deliberately not here: HTTP parsing and response shapes (`routes/oidc.py`, `routes/social.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum

from kiro_sim import tokens
from kiro_sim.accounts import Account, AccountSpec
from kiro_sim.rules import Rule
from kiro_sim.store import IssuedTokens, SimState

SLOW_DOWN_STEP = 5


class DeviceStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CONSUMED = "consumed"


@dataclass(slots=True)
class DeviceAuth:
    device_code: str
    user_code: str
    client_id: str
    client_secret: str
    expires_at: float
    interval: int
    status: DeviceStatus = DeviceStatus.PENDING
    last_poll: float | None = None
    account_id: str | None = None


class DevicePollError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error = error
        self.description = description


class DeviceFlows:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.by_device: dict[str, DeviceAuth] = {}
        self.by_user: dict[str, DeviceAuth] = {}

    def start(self, client_id: str, client_secret: str) -> DeviceAuth:
        settings = self.state.settings
        user_code = tokens.new_user_code()
        while user_code in self.by_user:
            user_code = tokens.new_user_code()
        auth = DeviceAuth(
            device_code=tokens.new_device_code(),
            user_code=user_code,
            client_id=client_id,
            client_secret=client_secret,
            expires_at=self.state.clock() + settings.device_expires_in,
            interval=settings.device_interval,
        )
        self.by_device[auth.device_code] = auth
        self.by_user[user_code] = auth
        return auth

    def find_user_code(self, user_code: str) -> DeviceAuth | None:
        return self.by_user.get(user_code.strip().upper())

    def approve(self, user_code: str, account_id: str | None = None) -> DeviceAuth:
        auth = self._decidable(user_code)
        if account_id is not None:
            account = self.state.accounts.get(account_id)
            if account is None:
                raise KeyError(f"unknown account {account_id!r}")
            if account.auth != "idc":
                raise ValueError("device-flow tokens can only go to an idc account")
        auth.status = DeviceStatus.APPROVED
        auth.account_id = account_id
        return auth

    def deny(self, user_code: str) -> DeviceAuth:
        auth = self._decidable(user_code)
        auth.status = DeviceStatus.DENIED
        return auth

    def _decidable(self, user_code: str) -> DeviceAuth:
        auth = self.find_user_code(user_code)
        if auth is None:
            raise KeyError(f"unknown user code {user_code!r}")
        if auth.status is not DeviceStatus.PENDING:
            raise ValueError(f"user code {auth.user_code} is already {auth.status.value}")
        return auth

    def poll(self, device_code: object, client_id: str) -> tuple[Account, IssuedTokens]:
        """One `/token` poll with grantType device_code. Raises DevicePollError."""
        state = self.state
        auth = self.by_device.get(device_code) if isinstance(device_code, str) else None
        if auth is None or auth.client_id != client_id or auth.status is DeviceStatus.CONSUMED:
            raise DevicePollError("invalid_grant", "Invalid device code provided")
        now = state.clock()
        if now >= auth.expires_at:
            raise DevicePollError("expired_token", "Device code has expired")
        previous, auth.last_poll = auth.last_poll, now
        if auth.status is DeviceStatus.DENIED:
            raise DevicePollError("access_denied", "The user denied the authorization request")
        if (
            Rule.DEVICE_POLL_INTERVAL in state.rules
            and previous is not None
            and now - previous < auth.interval
        ):
            auth.interval += SLOW_DOWN_STEP
            raise DevicePollError("slow_down", "Client is polling too quickly")
        if auth.status is DeviceStatus.PENDING:
            raise DevicePollError("authorization_pending", "Authorization is still pending")
        auth.status = DeviceStatus.CONSUMED
        if auth.account_id is not None:
            account = state.accounts[auth.account_id]
            account.client_id, account.client_secret = auth.client_id, auth.client_secret
        else:
            account = state.add_account(
                AccountSpec(auth="idc", client_id=auth.client_id, client_secret=auth.client_secret)
            )
        return account, state.login(account)

    def view(self) -> list[dict[str, object]]:
        return [
            {
                "user_code": a.user_code,
                "status": a.status.value,
                "client_id": a.client_id,
                "expires_at": a.expires_at,
                "interval": a.interval,
                "account_id": a.account_id,
            }
            for a in self.by_device.values()
        ]


@dataclass(slots=True)
class LoginCode:
    code: str
    challenge: str
    redirect_uri: str
    idp: str
    expires_at: float
    used: bool = False


class LoginError(Exception):
    pass


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LoginCodes:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.codes: dict[str, LoginCode] = {}

    def create(self, challenge: str, redirect_uri: str, idp: str) -> LoginCode:
        code = LoginCode(
            tokens.new_login_code(),
            challenge,
            redirect_uri,
            idp,
            self.state.clock() + self.state.settings.login_code_ttl,
        )
        self.codes[code.code] = code
        return code

    def exchange(self, code: object, verifier: object, redirect_uri: object) -> tuple[Account, IssuedTokens]:
        """`POST /oauth/token`: one-time code + PKCE verifier → tokens for a (new) social account."""
        entry = self.codes.get(code) if isinstance(code, str) else None
        if entry is None or entry.used or self.state.clock() >= entry.expires_at:
            raise LoginError("Invalid or expired authorization code")
        if redirect_uri != entry.redirect_uri:
            raise LoginError("redirect_uri does not match the authorization request")
        if not isinstance(verifier, str) or not hmac.compare_digest(s256(verifier), entry.challenge):
            raise LoginError("code_verifier does not match the code_challenge")
        entry.used = True
        state = self.state
        target = state.next_login_account
        if target is not None and target in state.accounts:
            state.next_login_account = None
            account = state.accounts[target]
        else:
            account = state.add_account(AccountSpec(auth="social"))
        return account, state.login(account)
