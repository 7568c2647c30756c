"""The client's session id and its conversationId (reference §19.2, §19.8)."""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from kiroproto.convert.session import MAX_SESSION_ID, client_session_id, conversation_id_for

SESSION = "3f2b1c9a-8d7e-4f60-a1b2-c3d4e5f60718"


def test_the_header_wins() -> None:
    user_id = json.dumps({"device_id": "d", "account_uuid": "a", "session_id": "other"})
    assert client_session_id(f" {SESSION} ", user_id) == SESSION


def test_json_user_id_of_claude_code() -> None:
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": SESSION})
    assert client_session_id(None, user_id) == SESSION
    assert client_session_id("", json.dumps({"session_id": "not-a-uuid"})) == "not-a-uuid"


def test_older_claude_code_user_id() -> None:
    user_id = f"user_{'a' * 64}_account__session_{SESSION.upper()}"
    assert client_session_id(None, user_id) == SESSION


def test_openai_user_and_nothing() -> None:
    assert client_session_id(None, "alice@example.com") == "alice@example.com"
    assert client_session_id(None, None) is None
    assert client_session_id("  ", "  ") is None
    assert len(client_session_id("x" * 1000, None) or "") == 200


def test_conversation_id_is_the_uuid_or_derived_from_the_session() -> None:
    assert conversation_id_for(SESSION) == SESSION
    derived = conversation_id_for("alice@example.com")
    assert uuid.UUID(derived).version == 5
    assert derived == conversation_id_for("alice@example.com")
    assert derived != conversation_id_for("bob@example.com")


@given(st.text(min_size=1, max_size=300))
def test_any_session_gives_a_stable_uuid(session: str) -> None:
    first = conversation_id_for(session)
    assert str(uuid.UUID(first)) == first == conversation_id_for(session)


def test_deeply_nested_user_id_is_no_session_error() -> None:
    """Regression (found in review): `metadata.user_id` is any string; deeply nested JSON in it
    raised RecursionError (a 500) instead of being taken as a plain id."""
    deep = "[" * 100_000
    assert client_session_id(None, deep) == deep[:MAX_SESSION_ID]
