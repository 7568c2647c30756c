"""Import of existing credentials (pure): the seed's `KIRO_AUTH_TOKEN` JSON (object or array), or
the Kiro IDE's `kiro-auth-token.json` plus, for IAM Identity Center / Builder ID, the client
registration file its `clientIdHash` names (holding `clientId` / `clientSecret`).

`prepare_import` merges the registration into the entries that need it, then validates with
`kiroproto.credentials.parse_credentials`; bad entries are reported by index with the reason.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from kiro_oauth.errors import BadInput
from kiroproto.credentials import CredentialConfig, CredentialLoadProblem, parse_credentials

MAX_IMPORT_BYTES = 1024 * 1024


class PreparedImport(BaseModel):
    model_config = ConfigDict(frozen=True)

    credentials: tuple[tuple[int, CredentialConfig], ...]
    problems: tuple[CredentialLoadProblem, ...]  # by entry index


def _load(text: str, what: str) -> Any:
    if len(text.encode()) > MAX_IMPORT_BYTES:
        raise BadInput(f"the {what} is larger than 1 MiB")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"the {what} is not valid JSON ({exc.msg}, line {exc.lineno})") from exc


def _registration(text: str | None) -> dict[str, str] | None:
    if text is None or not text.strip():
        return None
    doc = _load(text, "client registration file")
    if not isinstance(doc, dict):
        raise BadInput("the client registration file must be a JSON object")
    client_id, client_secret = doc.get("clientId"), doc.get("clientSecret")
    if (
        not isinstance(client_id, str)
        or not isinstance(client_secret, str)
        or not client_id
        or not client_secret
    ):
        raise BadInput("the client registration file has no clientId / clientSecret")
    return {"clientId": client_id, "clientSecret": client_secret}


def _needs_registration(entry: dict[str, Any]) -> bool:
    method = str(entry.get("authMethod") or entry.get("auth") or "").strip().lower()
    is_idc = method in {"idc", "builder-id", "builderid", "iam", "identitycenter"} or "clientIdHash" in entry
    return is_idc and not (entry.get("clientId") and entry.get("clientSecret"))


def prepare_import(credentials_text: str, registration_text: str | None = None) -> PreparedImport:
    if not credentials_text.strip():
        raise BadInput("paste a credential JSON or choose a kiro-auth-token.json file")
    doc = _load(credentials_text, "credential JSON")
    entries = doc if isinstance(doc, list) else [doc]
    if not entries:
        raise BadInput("the credential JSON is an empty list")
    registration = _registration(registration_text)
    problems: list[CredentialLoadProblem] = []
    accepted: list[tuple[int, CredentialConfig]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            entry = dict(entry)
            if _needs_registration(entry) and registration is not None:
                entry.update(registration)
            token = entry.get("refreshToken")
            if isinstance(token, str) and "..." in token:
                problems.append(
                    CredentialLoadProblem(index=index, reason="refreshToken looks truncated (contains ...)")
                )
                continue
        parsed = parse_credentials(orjson.dumps(entry))
        for problem in parsed.problems:
            reason = problem.reason
            if "clientId and clientSecret" in reason and registration is None:
                reason += " (add the client registration file that clientIdHash names)"
            problems.append(CredentialLoadProblem(index=index, reason=reason))
        for cred in parsed.credentials:
            if cred.identity in seen:
                problems.append(CredentialLoadProblem(index=index, reason="duplicate credential"))
                continue
            seen.add(cred.identity)
            accepted.append((index, cred))
    return PreparedImport(credentials=tuple(accepted), problems=tuple(problems))
