"""Which request paths the forwarder accepts, checked once on the path it routes on.

The gateway routes on the percent-decoded path (`scope["path"]`); the service behind it decodes
the forwarded raw path the same way. A path is forwarded only when both readings are the same
path: no dot-segments (`.`, `..`, also as `%2e`), no empty interior segment (`//`), no
backslash and no control character (`%00`, `%0a`, ...). Anything else is refused with a 400
rather than normalised, so that `/api/../metrics` can never be read as `/api/...` here and as
`/metrics` there (what an HTTP client library does when it normalises the URL it sends).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

# Paths every service answers for itself, on its own port; never reached through the forwarder.
SERVICE_LOCAL = frozenset({"metrics", "healthz", "readyz"})


@dataclass(frozen=True, slots=True)
class ForwardPath:
    path: str  # decoded, what the gateway routed on
    raw: bytes  # what the client sent (percent-encoded), what is forwarded


class BadPath(ValueError):
    """The path is ambiguous or malformed; the message says why (no path echoed back)."""


def check_path(path: str, raw: bytes | None) -> ForwardPath:
    """The path to forward, or `BadPath`. `raw` is the request's raw path (without the query);
    when the server gives none, the decoded path is forwarded percent-encoded."""
    if not path.startswith("/"):
        raise BadPath("the request path must start with /")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise BadPath("the request path contains a control character")
    if "\\" in path:
        raise BadPath("the request path contains a backslash")
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        if segment in (".", ".."):
            raise BadPath("the request path contains a dot-segment")
        if segment == "" and i < len(segments) - 1:
            raise BadPath("the request path contains an empty segment")
    raw_path = raw if raw is not None else _encode(path)
    try:
        raw_text = raw_path.decode("ascii")
    except UnicodeDecodeError as exc:
        raise BadPath("the request path is not percent-encoded ASCII") from exc
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in raw_text) or "#" in raw_text:
        raise BadPath("the request path contains a character that must be percent-encoded")
    return ForwardPath(path=path, raw=raw_path)


def is_service_local(path: str) -> bool:
    """`/metrics`, `/healthz`, `/readyz` and anything below them: the gateway answers its own
    exact paths; variants (`/metrics/`, `/metrics/x`) are not forwarded either."""
    first = path.split("/", 2)[1] if path.startswith("/") else path
    return first in SERVICE_LOCAL


def _encode(path: str) -> bytes:
    return quote(path, safe="/:@!$&'()*+,;=-._~").encode("ascii")
