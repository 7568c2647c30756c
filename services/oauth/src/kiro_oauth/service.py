"""The login flows, end to end: start, continue, finish by handing the credential to the broker.

- Device authorization (Builder ID / IAM Identity Center): register a client, start the device
  authorization, show the user code; each page poll makes at most one `/token` call, never before
  the flow's `next_poll_at` (the interval, +5 s on every `slow_down`), under a Redis lock so two
  replicas never redeem one device code twice.
- Social (Google / GitHub): PKCE link; the pasted redirect URL's `state` must match a pending
  login (taken once); the code is exchanged at the portal's `/oauth/token`.
- Import: credential JSON or the Kiro IDE files.
Every new credential goes to the broker with `verify=True` (an immediate refresh decides).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from kiro_oauth.errors import BadInput, CredentialRejected, FlowNotFound, LoginFailed
from kiro_oauth.flows import DeviceFlow, FlowKind, FlowStore, SocialLogin, new_flow_id
from kiro_oauth.importer import prepare_import
from kiro_oauth.metrics import OAuthMetrics
from kiro_oauth.pkce import Idp, challenge, login_url, new_state, new_verifier, parse_redirect
from kiro_oauth.settings import BUILDER_ID_REGION, Settings
from kiro_oauth.upstream import LoginClient, PollError, TokenResponse
from kiro_service.bus import BusClient, BusError
from kiroproto.bus import CREDENTIAL_ADD, CredentialAdd
from kiroproto.credentials import CredentialConfig
from kiroproto.upstream import base_url

log = logging.getLogger(__name__)
SLOW_DOWN_STEP_S = 5
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_START_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")


class AddOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    credential_id: str | None = None
    message: str | None = None


def _expires_at(now: float, expires_in: int) -> str:
    return datetime.fromtimestamp(now + expires_in, UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class OAuthService:
    settings: Settings
    login: LoginClient
    flows: FlowStore
    bus: BusClient
    metrics: OAuthMetrics
    clock: Callable[[], float] = time.time

    # ------------------------------------------------------------ the broker
    async def _add(self, credential: CredentialConfig, flow: str) -> AddOutcome:
        try:
            result = await self.bus.call(
                CREDENTIAL_ADD,
                CredentialAdd(credential=credential, verify=True, source="oauth"),
                timeout_s=self.settings.oauth_add_timeout,
            )
        except BusError as exc:
            self.metrics.flows.labels(flow, "broker_error").inc()
            log.warning(
                "credential not added: broker error", extra={"flow": flow, "error": type(exc).__name__}
            )
            return AddOutcome(ok=False, message=f"the token-broker did not take the credential: {exc}")
        self.metrics.flows.labels(flow, "added" if result.ok else "rejected").inc()
        log.info(
            "credential handed to the broker",
            extra={"flow": flow, "ok": result.ok, "credential_id": result.credential_id},
        )
        if not result.ok:
            return AddOutcome(
                ok=False,
                credential_id=result.credential_id,
                message=f"the credential did not pass its check: {result.message or 'refused'}",
            )
        return AddOutcome(ok=True, credential_id=result.credential_id, message=result.message)

    # ------------------------------------------------------------ device authorization
    async def start_device(self, kind: FlowKind, start_url: str | None, region: str | None) -> dict[str, Any]:
        if kind == "builder_id":
            start_url, region = self.settings.oauth_builder_id_start_url, BUILDER_ID_REGION
        else:
            start_url = (start_url or "").strip()
            region = (region or "").strip().lower()
            if not _START_URL.match(start_url):
                raise BadInput(
                    "enter your organisation's start URL, like https://d-1234567890.awsapps.com/start"
                )
            if not _REGION.match(region):
                raise BadInput("enter the IAM Identity Center region, like us-east-1 or eu-central-1")
        oidc = base_url(self.settings.kiro_oidc_base_url, region)
        registration = await self.login.register_client(oidc, start_url)
        auth = await self.login.device_authorization(oidc, registration, start_url)
        now = self.clock()
        flow = DeviceFlow(
            id=new_flow_id(),
            kind=kind,
            region=region,
            start_url=start_url,
            user_code=auth.user_code,
            verification_uri=auth.verification_uri,
            expires_at=now + auth.expires_in,
            verification_uri_complete=auth.verification_uri_complete,
            interval=auth.interval,
            next_poll_at=now + auth.interval,
            client_id=registration.client_id,
            client_secret=registration.client_secret,
            device_code=auth.device_code,
        )
        await self.flows.save_device(flow, now)
        self.metrics.flows.labels(kind, "started").inc()
        log.info("device authorization started", extra={"flow_id": flow.id, "kind": kind, "region": region})
        return flow.public(now)

    async def poll_device(self, flow_id: str) -> dict[str, Any]:
        flow = await self.flows.load_device(flow_id)
        if flow is None:
            raise FlowNotFound("this sign-in is unknown or has expired; start again")
        now = self.clock()
        if flow.status != "pending" or now < flow.next_poll_at:
            return flow.public(now)
        if now >= flow.expires_at:
            flow = flow.finished("expired", "the code expired before it was approved; start again")
            await self.flows.save_device(flow, now)
            return flow.public(now)
        lock = await self.flows.lock(flow_id)
        if lock is None:
            return flow.public(now)  # another replica is polling this flow right now
        try:
            flow = await self._poll_once(flow)
            await self.flows.save_device(flow, self.clock())
        finally:
            await self.flows.unlock(flow_id, lock)
        return flow.public(self.clock())

    async def _poll_once(self, flow: DeviceFlow) -> DeviceFlow:
        assert flow.client_id and flow.client_secret and flow.device_code
        oidc = base_url(self.settings.kiro_oidc_base_url, flow.region)
        try:
            answer = await self.login.poll_device_token(
                oidc, flow.client_id, flow.client_secret, flow.device_code
            )
        except LoginFailed as exc:  # transient: keep the flow, try again after the interval
            now = self.clock()
            return flow.model_copy(
                update={"next_poll_at": now + flow.interval, "message": f"retrying: {exc}"}
            )
        now = self.clock()
        if isinstance(answer, TokenResponse):
            credential = CredentialConfig(
                auth="IdC",
                refresh_token=answer.refresh_token,
                access_token=answer.access_token,
                expires_at=_expires_at(now, answer.expires_in),
                client_id=flow.client_id,
                client_secret=flow.client_secret,
                region=flow.region,
                start_url=flow.start_url,
                profile_arn=answer.profile_arn,
            )
            outcome = await self._add(credential, flow.kind)
            if outcome.ok:
                return flow.finished("done", outcome.message or "account added", outcome.credential_id)
            return flow.finished("error", outcome.message, outcome.credential_id)
        return self._on_poll_error(flow, answer, now)

    def _on_poll_error(self, flow: DeviceFlow, answer: PollError, now: float) -> DeviceFlow:
        if answer.error == "authorization_pending":
            return flow.model_copy(update={"next_poll_at": now + flow.interval, "message": None})
        if answer.error == "slow_down":
            interval = flow.interval + SLOW_DOWN_STEP_S
            return flow.model_copy(update={"interval": interval, "next_poll_at": now + interval})
        self.metrics.flows.labels(flow.kind, answer.error).inc()
        log.info("device authorization ended", extra={"flow_id": flow.id, "result": answer.error})
        if answer.error == "expired_token":
            return flow.finished("expired", "the code expired before it was approved; start again")
        if answer.error == "access_denied":
            return flow.finished("denied", "the sign-in was refused on the verification page")
        detail = f"{answer.error}" + (f": {answer.description}" if answer.description else "")
        return flow.finished("error", f"the login service refused: {detail}")

    async def cancel_device(self, flow_id: str) -> None:
        await self.flows.delete_device(flow_id)

    # ------------------------------------------------------------ social
    async def start_social(self, idp: Idp) -> dict[str, Any]:
        verifier, state = new_verifier(), new_state()
        region = self.settings.kiro_region
        login = SocialLogin(state=state, idp=idp, verifier=verifier, region=region, created_at=self.clock())
        await self.flows.save_social(login, self.settings.oauth_social_ttl)
        self.metrics.flows.labels("social", "started").inc()
        url = login_url(base_url(self.settings.kiro_auth_base_url, region), idp, challenge(verifier), state)
        return {"login_url": url, "state": state, "expires_in": int(self.settings.oauth_social_ttl)}

    async def complete_social(self, pasted: str) -> AddOutcome:
        redirect = parse_redirect(pasted)
        login = await self.flows.take_social(redirect.state)
        if login is None:
            self.metrics.flows.labels("social", "unknown_state").inc()
            raise FlowNotFound(
                "that address does not belong to a sign-in started here (wrong or expired state); start again"
            )
        auth = base_url(self.settings.kiro_auth_base_url, login.region)
        tokens = await self.login.exchange_social_code(auth, redirect.code, login.verifier)
        credential = CredentialConfig(
            auth="Social",
            refresh_token=tokens.refresh_token,
            access_token=tokens.access_token,
            expires_at=_expires_at(self.clock(), tokens.expires_in),
            profile_arn=tokens.profile_arn,
            region=login.region,
        )
        outcome = await self._add(credential, "social")
        if not outcome.ok:
            raise CredentialRejected(outcome.message or "the credential was not accepted")
        return outcome

    # ------------------------------------------------------------ import
    async def import_credentials(
        self, credentials_text: str, registration_text: str | None
    ) -> dict[str, Any]:
        prepared = prepare_import(credentials_text, registration_text)
        results: list[dict[str, Any]] = [
            {"index": p.index, "ok": False, "credential_id": None, "message": p.reason}
            for p in prepared.problems
        ]
        for index, credential in prepared.credentials:
            outcome = await self._add(credential, "import")
            results.append({"index": index, **outcome.model_dump()})
        results.sort(key=lambda r: int(r["index"]))
        return {"ok": all(r["ok"] for r in results), "results": results}
