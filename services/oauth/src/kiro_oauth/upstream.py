"""HTTP calls of the login flows: AWS SSO-OIDC (client registration, device authorization, token
polls; kiro-protocol.md §12.2) and the Kiro auth portal's code exchange (§12.1).

Bodies are JSON: camelCase for OIDC, snake_case for the portal's `/oauth/token`. Transport
failures and unexpected answers become `LoginFailed` here, once; OIDC's expected poll answers
(`authorization_pending`, `slow_down`, `expired_token`, `access_denied`, ...) are returned as a
`PollError` value for the flow to act on. Nothing here logs a token, a secret or a body.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kiro_oauth.errors import LoginFailed
from kiro_oauth.pkce import KIRO_REDIRECT_URI
from kiroproto.upstream import oidc_headers

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPES = (
    "codewhisperer:completions",
    "codewhisperer:analysis",
    "codewhisperer:conversations",
    "codewhisperer:transformations",
    "codewhisperer:taskassist",
)
_EXCEPTION_ERRORS = {
    "AuthorizationPendingException": "authorization_pending",
    "SlowDownException": "slow_down",
    "ExpiredTokenException": "expired_token",
    "AccessDeniedException": "access_denied",
    "InvalidGrantException": "invalid_grant",
    "InvalidClientException": "invalid_client",
    "UnauthorizedClientException": "unauthorized_client",
    "InvalidRequestException": "invalid_request",
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class ClientRegistration(_Wire):
    client_id: str = Field(alias="clientId", min_length=1)
    client_secret: str = Field(alias="clientSecret", min_length=1)
    client_secret_expires_at: int | None = Field(default=None, alias="clientSecretExpiresAt")


class DeviceAuthorization(_Wire):
    device_code: str = Field(alias="deviceCode", min_length=1)
    user_code: str = Field(alias="userCode", min_length=1)
    verification_uri: str = Field(alias="verificationUri")
    verification_uri_complete: str | None = Field(default=None, alias="verificationUriComplete")
    expires_in: int = Field(default=600, alias="expiresIn", ge=1)
    interval: int = Field(default=5, alias="interval", ge=0)


class TokenResponse(_Wire):
    access_token: str = Field(alias="accessToken", min_length=1)
    refresh_token: str = Field(alias="refreshToken", min_length=1)
    expires_in: int = Field(default=3600, alias="expiresIn")
    profile_arn: str | None = Field(default=None, alias="profileArn")


class PollError(_Wire):
    error: str
    description: str = ""


def _oauth_error(resp: httpx.Response) -> PollError:
    try:
        doc: Any = resp.json()
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    error = doc.get("error")
    if not isinstance(error, str) or not error:
        kind = str(doc.get("__type") or resp.headers.get("x-amzn-errortype") or "")
        kind = kind.split("#")[-1].split(":")[0]
        error = _EXCEPTION_ERRORS.get(kind, kind or f"http_{resp.status_code}")
    description = doc.get("error_description") or doc.get("message") or ""
    return PollError(error=error, description=str(description)[:300])


@contextlib.contextmanager
def _transport(what: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise LoginFailed(f"{what}: the login service did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise LoginFailed(f"{what}: could not reach the login service ({type(exc).__name__})") from exc


class LoginClient:
    def __init__(self, http: httpx.AsyncClient, client_name: str) -> None:
        self._http = http
        self._client_name = client_name

    async def _post(
        self, what: str, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        with _transport(what):
            resp = await self._http.post(url, json=body, headers=headers)
        log.info("login call", extra={"call": what, "status": resp.status_code})
        return resp

    @staticmethod
    def _parse(what: str, resp: httpx.Response, model: type[_Wire]) -> Any:
        if resp.status_code != 200:
            err = _oauth_error(resp)
            detail = f"{err.error}" + (f": {err.description}" if err.description else "")
            raise LoginFailed(f"{what} failed ({resp.status_code} {detail})")
        try:
            return model.model_validate_json(resp.content)
        except ValidationError as exc:
            raise LoginFailed(f"{what}: unexpected answer from the login service") from exc

    async def register_client(self, oidc_base: str, start_url: str) -> ClientRegistration:
        body = {
            "clientName": self._client_name,
            "clientType": "public",
            "scopes": list(SCOPES),
            "grantTypes": [DEVICE_GRANT, "refresh_token"],
            "issuerUrl": start_url,
        }
        resp = await self._post("client registration", f"{oidc_base}/client/register", body, oidc_headers())
        result: ClientRegistration = self._parse("client registration", resp, ClientRegistration)
        return result

    async def device_authorization(
        self, oidc_base: str, client: ClientRegistration, start_url: str
    ) -> DeviceAuthorization:
        body = {"clientId": client.client_id, "clientSecret": client.client_secret, "startUrl": start_url}
        resp = await self._post(
            "device authorization", f"{oidc_base}/device_authorization", body, oidc_headers()
        )
        result: DeviceAuthorization = self._parse("device authorization", resp, DeviceAuthorization)
        return result

    async def poll_device_token(
        self, oidc_base: str, client_id: str, client_secret: str, device_code: str
    ) -> TokenResponse | PollError:
        body = {
            "clientId": client_id,
            "clientSecret": client_secret,
            "deviceCode": device_code,
            "grantType": DEVICE_GRANT,
        }
        resp = await self._post("device token poll", f"{oidc_base}/token", body, oidc_headers())
        if 400 <= resp.status_code < 500:
            return _oauth_error(resp)
        result: TokenResponse = self._parse("device token poll", resp, TokenResponse)
        return result

    async def exchange_social_code(self, auth_base: str, code: str, verifier: str) -> TokenResponse:
        body = {"code": code, "code_verifier": verifier, "redirect_uri": KIRO_REDIRECT_URI}
        headers = {"content-type": "application/json", "accept": "application/json"}
        resp = await self._post("social code exchange", f"{auth_base}/oauth/token", body, headers)
        result: TokenResponse = self._parse("social code exchange", resp, TokenResponse)
        return result
