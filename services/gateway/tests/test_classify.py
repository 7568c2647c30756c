"""Failure classification: upstream status + body → outcome, retry, client error (§8.2/§8.3)."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import ContextTooLong, InvalidRequest
from gateway.upstream import classify_exception, classify_http
from kiroproto.bus import Outcome


def body(message: str, reason: str | None = None) -> bytes:
    return orjson.dumps({"message": message, "reason": reason})


@pytest.mark.parametrize(
    ("status", "payload", "outcome", "retry"),
    [
        (403, body("The bearer token included in the request is invalid."), Outcome.TOKEN_INVALID, True),
        (401, b"", Outcome.TOKEN_INVALID, True),
        (
            403,
            body("Your User ID temporarily is suspended.", "TEMPORARILY_SUSPENDED"),
            Outcome.SUSPENDED,
            True,
        ),
        (403, body("Account locked as a security precaution"), Outcome.SUSPENDED, True),
        (402, body("You have reached the limit.", "MONTHLY_REQUEST_COUNT"), Outcome.QUOTA_EXHAUSTED, True),
        (
            429,
            body("I am experiencing high traffic", "INSUFFICIENT_MODEL_CAPACITY"),
            Outcome.MODEL_CAPACITY,
            True,
        ),
        (429, body("busy", "SERVICE_REQUEST_RATE_EXCEEDED"), Outcome.MODEL_CAPACITY, True),
        (503, body("busy", "SERVICE_REQUEST_RATE_EXCEEDED"), Outcome.MODEL_CAPACITY, True),
        (429, body("limit", "MONTHLY_REQUEST_COUNT"), Outcome.QUOTA_EXHAUSTED, True),
        (429, body("daily", "DAILY_REQUEST_COUNT"), Outcome.QUOTA_EXHAUSTED, True),
        (402, body("overage", "OVERAGE_REQUEST_LIMIT_EXCEEDED"), Outcome.QUOTA_EXHAUSTED, True),
        (402, body("conversations", "CONVERSATION_LIMIT_EXCEEDED"), Outcome.QUOTA_EXHAUSTED, True),
        (429, body("Too many requests", "USER_REQUEST_RATE_EXCEEDED"), Outcome.THROTTLED, True),
        (429, body("Too many credits", "CREDIT_CONSUMPTION_RATE_EXCEEDED"), Outcome.THROTTLED, True),
        (429, body("Too many requests"), Outcome.THROTTLED, True),
        (
            429,
            body("We have detected suspicious activity on your account and applied temporary limits."),
            Outcome.SUSPENDED,
            True,
        ),
        (
            500,
            body("Encountered unexpectedly high load", "MODEL_TEMPORARILY_UNAVAILABLE"),
            Outcome.MODEL_CAPACITY,
            True,
        ),
        (500, body("Encountered an unexpected error"), Outcome.SERVER_ERROR, True),
        (502, b"<html>bad gateway</html>", Outcome.SERVER_ERROR, True),
        (503, b"", Outcome.SERVER_ERROR, True),
        (
            400,
            body("Invalid model. Please select a different model", "INVALID_MODEL_ID"),
            Outcome.MODEL_UNAVAILABLE,
            True,
        ),
        (400, body("Improperly formed request."), Outcome.BAD_REQUEST, False),
        (400, body("Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD"), Outcome.BAD_REQUEST, False),
        (
            400,
            orjson.dumps(
                {
                    "__type": "com.amazon.aws.codewhisperer#ValidationException",
                    "message": "Input is too long.",
                }
            ),
            Outcome.BAD_REQUEST,
            False,
        ),
    ],
)
def test_http_failure_classes(status: int, payload: bytes, outcome: Outcome, retry: bool) -> None:
    failure = classify_http(status, payload)
    assert failure.outcome == outcome
    assert failure.retry is retry
    assert failure.status_code == status
    if not retry:
        assert isinstance(failure.client_error, InvalidRequest)


def test_context_overflow_becomes_prompt_too_long() -> None:
    failure = classify_http(400, body("Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD"))
    assert isinstance(failure.client_error, ContextTooLong)
    assert failure.client_error.message.startswith("prompt is too long")
    assert failure.client_error.openai_type == "context_length_exceeded"


def test_other_bad_request_names_the_upstream_message() -> None:
    failure = classify_http(400, body("Improperly formed request."))
    assert failure.client_error is not None
    assert "Improperly formed request." in failure.client_error.message


def test_reason_travels_with_the_failure() -> None:
    assert classify_http(429, body("daily", "DAILY_REQUEST_COUNT")).reason == "DAILY_REQUEST_COUNT"
    assert classify_http(429, body("slow", "USER_REQUEST_RATE_EXCEEDED"), "3").retry_after_s == 3.0


def test_retry_after_header_is_kept() -> None:
    assert classify_http(429, b"", "7").retry_after_s == 7.0
    assert classify_http(429, b"", "soon").retry_after_s is None


@pytest.mark.parametrize(
    ("exception_type", "message", "outcome", "retry"),
    [
        ("ThrottlingException", "slow down", Outcome.THROTTLED, True),
        ("ThrottlingException", "Rate exceeded INSUFFICIENT_MODEL_CAPACITY", Outcome.MODEL_CAPACITY, True),
        ("ThrottlingException", "DAILY_REQUEST_COUNT reached", Outcome.QUOTA_EXHAUSTED, True),
        ("InternalServerException", "oops", Outcome.SERVER_ERROR, True),
        ("ServiceUnavailableException", "later", Outcome.SERVER_ERROR, True),
        ("ValidationException", "Improperly formed request.", Outcome.BAD_REQUEST, False),
        ("ValidationException", "Input is too long.", Outcome.BAD_REQUEST, False),
        (
            "AccessDeniedException",
            "The bearer token included in the request is invalid.",
            Outcome.TOKEN_INVALID,
            True,
        ),
    ],
)
def test_in_stream_exception_classes(
    exception_type: str, message: str, outcome: Outcome, retry: bool
) -> None:
    failure = classify_exception(exception_type, message)
    assert failure is not None
    assert (failure.outcome, failure.retry) == (outcome, retry)


def test_in_stream_reason_field_decides() -> None:
    failure = classify_exception("ThrottlingException", "Rate exceeded", "INSUFFICIENT_MODEL_CAPACITY")
    assert failure is not None and failure.outcome == Outcome.MODEL_CAPACITY


def test_content_length_exceeded_is_not_a_failure() -> None:
    assert classify_exception("ContentLengthExceededException", "output budget") is None
