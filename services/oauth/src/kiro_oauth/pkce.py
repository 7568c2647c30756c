"""Social login via the Kiro auth portal (kiro-protocol.md §12.1): PKCE values, the login link, and
reading the redirect URL the administrator pastes back. Pure functions, no I/O.

The portal only redirects to the Kiro IDE's own URI (`kiro://kiro.kiroAgent/authenticate-success`),
which a browser cannot deliver to us, so the page asks for the final URL and we read `code` and
`state` from it (an `error` parameter there means the login was refused).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from kiro_oauth.errors import BadInput

KIRO_REDIRECT_URI = "kiro://kiro.kiroAgent/authenticate-success"
Idp = Literal["Google", "Github"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_verifier() -> str:
    """64 random bytes, base64url: 86 characters, inside RFC 7636's 43..128."""
    return _b64url(secrets.token_bytes(64))


def challenge(verifier: str) -> str:
    """S256: base64url(SHA-256(verifier)) without padding."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_state() -> str:
    return secrets.token_urlsafe(24)


def login_url(auth_base_url: str, idp: Idp, code_challenge: str, state: str) -> str:
    query = urlencode(
        {
            "idp": idp,
            "redirect_uri": KIRO_REDIRECT_URI,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "state": state,
        }
    )
    return f"{auth_base_url.rstrip('/')}/login?{query}"


@dataclass(frozen=True, slots=True)
class Redirect:
    code: str
    state: str


def parse_redirect(pasted: str) -> Redirect:
    """`code` and `state` from the pasted final URL (or just its query string)."""
    text = pasted.strip()
    if not text:
        raise BadInput("paste the address your browser was sent to after signing in")
    if len(text) > 8192:
        raise BadInput("that address is too long")
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    params = parse_qs(query)
    error = params.get("error", [None])[0]
    if error:
        described = params.get("error_description", [""])[0]
        raise BadInput(f"the login was refused: {error}" + (f" ({described[:200]})" if described else ""))
    code = params.get("code", [None])[0]
    state = params.get("state", [None])[0]
    if not code or not state:
        raise BadInput("that address has no code and state; copy the whole kiro://... address")
    return Redirect(code=code, state=state)
