"""Operator requests on the bus: add a credential (verified by one refresh when asked) and
the actions disable, enable, refresh, check_usage, delete, set_priority.

Adding an id that exists replaces its secrets (a new login for the same account) and brings
an invalid credential back to active; counters, priority and the disabled flag are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kiroproto.bus import Ack, CredentialAction, CredentialAdd, CredentialAddResult, CredentialStatusKind
from kiroproto.credentials import fingerprint
from token_broker import records as R
from token_broker.catalogue import Catalogues
from token_broker.credential_quota import QuotaChecker
from token_broker.errors import KiroApiError, RefreshError, TokenBrokerError, UnknownCredential
from token_broker.events import EventPublisher
from token_broker.mirror import TokenFileMirror
from token_broker.records import now_ms
from token_broker.refresh import Refresher
from token_broker.store import CredentialStore

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Admin:
    store: CredentialStore
    refresher: Refresher
    usage: QuotaChecker
    events: EventPublisher
    mirror: TokenFileMirror | None
    catalogues: Catalogues | None = None

    async def add(self, req: CredentialAdd) -> CredentialAddResult:
        if req.credential.auth == "ApiKey":
            return await self._add_api_key(req)
        cfg = req.credential
        cid = cfg.identity
        refusal = self._refuse_proxy(cfg.proxy)
        if refusal is not None:
            log.info("credential rejected", extra={"credential": cid, "reason": "proxy_not_allowed"})
            return CredentialAddResult(ok=False, credential_id=cid, message=refusal)
        box = self.store.box
        extra: dict[str, str] = {R.SOURCE: req.source}
        if req.verify:
            try:
                tokens = await self.refresher.verify_config(cfg)
            except RefreshError as exc:
                log.info("credential rejected", extra={"credential": cid, "reason": exc.reason})
                return CredentialAddResult(ok=False, credential_id=cid, message=f"the refresh failed: {exc}")
            expires = now_ms() + int(tokens.expires_in_s * 1000)
            extra |= R.token_fields(box, cid, tokens.access_token, expires)
            if tokens.refresh_token:
                extra[R.REFRESH_TOKEN] = box.seal(tokens.refresh_token, cid, R.REFRESH_TOKEN)
                extra[R.REFRESH_FP] = fingerprint(tokens.refresh_token)
            if tokens.profile_arn:
                extra[R.PROFILE_ARN] = tokens.profile_arn
        inserted = await self.store.insert(cfg, mode="admin", extra=extra)
        if inserted == 1:
            message = "added"
        else:
            extra.pop(R.SOURCE)  # an existing record keeps where it came from
            fields: dict[str, str | int] = {
                R.REFRESH_TOKEN: box.seal(cfg.refresh_token, cid, R.REFRESH_TOKEN),
                R.REFRESH_FP: fingerprint(cfg.refresh_token),
                R.CLIENT_ID: box.seal(cfg.client_id or "", cid, R.CLIENT_ID),
                R.CLIENT_SECRET: box.seal(cfg.client_secret or "", cid, R.CLIENT_SECRET),
                R.REFRESH_FAILS: 0,
                R.REFRESH_RETRY_AT_MS: 0,
            }
            if not req.verify:
                fields[R.TOKEN_STALE] = "1"  # the old access token may belong to another login
            fields |= extra
            await self.store.patch(cid, fields, revive=True, bump_generation=True)
            message = "updated"
        log.info("credential %s", message, extra={"credential": cid, "verified": req.verify})
        await self.events.credential(cid, CredentialStatusKind.ACTIVE.value, message)
        await self._mirror_now()
        if self.catalogues is not None:
            self.catalogues.refresh_later(cid)
        return CredentialAddResult(ok=True, credential_id=cid, message=message)

    async def _add_api_key(self, req: CredentialAdd) -> CredentialAddResult:
        """A Kiro API key: nothing to refresh; `verify` fetches its catalogue with the key."""
        cfg = req.credential
        cid = cfg.identity
        inserted = await self.store.insert(cfg, mode="admin", extra={R.SOURCE: req.source})
        if inserted != 1:
            key = cfg.secret
            fields: dict[str, str | int] = dict(
                R.token_fields(self.store.box, cid, key, R.API_KEY_EXPIRES_MS)
            )
            fields |= {R.REFRESH_FAILS: 0, R.REFRESH_RETRY_AT_MS: 0}
            await self.store.patch(cid, fields, revive=True, bump_generation=True)
        message = "added" if inserted == 1 else "updated"
        if req.verify and self.catalogues is not None:
            try:
                await self.catalogues.refresh(cid)
            except KiroApiError as exc:
                if exc.reason in ("http_401", "http_403"):
                    if inserted == 1:
                        await self.store.delete(cid)
                        await self.catalogues.forget(cid)
                    log.info("API key rejected", extra={"credential": cid, "reason": exc.reason})
                    return CredentialAddResult(
                        ok=False,
                        credential_id=cid,
                        message=f"the upstream rejected the API key ({exc.reason})",
                    )
                log.info(
                    "API key stored; catalogue not fetched", extra={"credential": cid, "reason": str(exc)}
                )
        elif self.catalogues is not None:
            self.catalogues.refresh_later(cid)
        log.info("credential %s", message, extra={"credential": cid, "auth": "ApiKey"})
        await self.events.credential(cid, CredentialStatusKind.ACTIVE.value, message)
        await self._mirror_now()
        return CredentialAddResult(ok=True, credential_id=cid, message=message)

    def _refuse_proxy(self, proxy: str | None) -> str | None:
        """A credential added through the admin API or the OAuth import may name only one of
        `PROXY_POOL`'s proxies: the refresh token must never be sent through a host that the
        operator did not configure (only `KIRO_AUTH_TOKEN` may name other proxies)."""
        if proxy is None or proxy in self.refresher.settings.proxies:
            return None
        return "the credential's proxy is not one of PROXY_POOL's; ask the operator to add it there"

    async def action(self, req: CredentialAction) -> Ack:
        cid = req.credential_id
        try:
            state = await self.store.state(cid)
            if state is None:
                raise UnknownCredential(cid)
            message = await self._do(req, state.status)
        except TokenBrokerError as exc:
            return Ack(ok=False, message=str(exc))
        log.info("credential action", extra={"credential": cid, "action": req.action})
        return Ack(ok=True, message=message)

    async def _do(self, req: CredentialAction, status: CredentialStatusKind) -> str:
        cid = req.credential_id
        if req.action == "disable":
            await self.store.patch(cid, {R.DISABLED: "1"})
            await self.events.credential(cid, "disabled", "disabled by an operator")
            await self.events.catalogue(cid)  # the pool's models may have changed
            await self._mirror_now()
            return "disabled"
        if req.action == "enable":
            fields: dict[str, str | int] = {R.DISABLED: "0", R.FAIL_STREAK: 0, R.REFRESH_FAILS: 0}
            fields[R.REFRESH_RETRY_AT_MS] = 0
            if status == CredentialStatusKind.DISABLED:
                fields |= {R.STATUS: "active", R.REASON: "", R.STATUS_UNTIL_MS: 0}
            result = await self.store.patch(cid, fields, revive=True)
            await self.events.credential(cid, result.new_status)
            await self.events.catalogue(cid)
            await self._mirror_now()
            return "enabled"
        if req.action == "refresh":
            state, _ = await self.refresher.ensure_fresh(cid, force=True)
            if self.catalogues is not None:
                self.catalogues.refresh_later(cid)
            return f"refreshed; access token {state.token_fp}"
        if req.action == "check_usage":
            usage = await self.usage.check(cid)
            return f"{usage.remaining:g} of {usage.limit:g} credits left"
        if req.action == "delete":
            if not await self.store.delete(cid):
                raise UnknownCredential(cid)
            if self.catalogues is not None:
                await self.catalogues.forget(cid)
            await self.events.catalogue(cid)
            await self._mirror_now()
            return "deleted"
        if req.action == "set_priority":
            if req.priority is None:
                raise TokenBrokerError("set_priority needs a priority")
            await self.store.patch(cid, {R.PRIORITY: req.priority})
            await self._mirror_now()
            return f"priority {req.priority}"
        raise TokenBrokerError(f"unknown action {req.action!r}")

    async def _mirror_now(self) -> None:
        if self.mirror is not None:
            await self.mirror.write()
