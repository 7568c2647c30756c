"""The client's session and its Kiro `conversationId` (reference §19.2, §19.8).

A session keeps one account (the broker's stickiness) and one `conversationId`: Kiro's prompt
cache discounts credits only that way. The session id is, in order:

1. the `X-Claude-Code-Session-Id` header (Claude Code since 2.1.78);
2. the session in `metadata.user_id`: the `session_<uuid>` of older Claude Code, or the
   `session_id` of the JSON string `{"device_id", "account_uuid", "session_id"}`;
3. the rest of `metadata.user_id` (where the OpenAI route puts the request's `user`).

The conversation id is the session's UUID where it is one, else a UUID derived from the session
id (uuid5), so every request of a session carries the same one, on every gateway replica.
"""

from __future__ import annotations

import json
import uuid

from kiroproto.convert.anthropic_to_kiro import session_conversation_id

MAX_SESSION_ID = 200
_NAMESPACE = uuid.UUID("6f1d3c2e-9a57-4c0b-8d4e-2b7a9e5f1c30")  # fixed: ids must not change


def client_session_id(header: str | None, user_id: str | None) -> str | None:
    """The client's session id (see the module docstring), or None."""
    if header is not None and header.strip():
        return header.strip()[:MAX_SESSION_ID]
    if not user_id or not user_id.strip():
        return None
    session = session_conversation_id(user_id)
    if session is not None:
        return session
    try:
        parsed = json.loads(user_id)
    except (ValueError, RecursionError):  # any string may arrive here, deeply nested JSON too
        parsed = None
    if isinstance(parsed, dict):
        value = parsed.get("session_id")
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_SESSION_ID]
    return user_id.strip()[:MAX_SESSION_ID]


def conversation_id_for(session_id: str) -> str:
    """The Kiro `conversationId` of a session: its UUID, or one derived from it."""
    try:
        return str(uuid.UUID(session_id))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, session_id))


__all__ = ["client_session_id", "conversation_id_for"]
