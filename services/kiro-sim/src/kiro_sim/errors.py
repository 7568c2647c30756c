"""Upstream error responses exactly as the simulator sends them (kiro-protocol.md §8, §9, §12).

`UpstreamError` is a ready-to-send HTTP error (status, body bytes, headers). The presets
reproduce the bodies of §8.2; `PRESETS` names them for scripts (`{"error": "capacity"}`).
`oauth_error()` builds the `{"error", "error_description"}` bodies of the auth surfaces.
`Rejected` carries a validation failure together with the rule that fired.

Deliberately not here: deciding when to send which error (the routes and the validator do).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from kiro_sim.rules import Rule

# Smithy exception names per status, sent as `x-amzn-errortype` like AWS restJson services.
_ERROR_TYPES: dict[int, str] = {
    400: "ValidationException",
    402: "ServiceQuotaExceededException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    409: "ConflictException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


@dataclass(frozen=True, slots=True)
class UpstreamError:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())

    def with_retry_after(self, retry_after: str | None) -> UpstreamError:
        if retry_after is None:
            return self
        return UpstreamError(
            self.status, self.body, self.content_type, (*self.headers, ("retry-after", retry_after))
        )

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
        ]
        out.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers)
        return out


def kiro_error(status: int, message: str, reason: str | None = None) -> UpstreamError:
    """The `{"message", "reason"}` shape of §8.1 with an `x-amzn-errortype` header."""
    headers: tuple[tuple[str, str], ...] = ()
    error_type = _ERROR_TYPES.get(status)
    if error_type:
        headers = (("x-amzn-errortype", error_type),)
    return UpstreamError(status, orjson.dumps({"message": message, "reason": reason}), headers=headers)


def oauth_error(
    error: str, description: str, status: int = 400, error_type: str | None = None
) -> UpstreamError:
    """OIDC / auth-portal errors: `{"error": ..., "error_description": ...}` (§9.2, §9.3, §12.2)."""
    headers = (("x-amzn-errortype", error_type),) if error_type else ()
    body = orjson.dumps({"error": error, "error_description": description})
    return UpstreamError(status, body, headers=headers)


def html_error(status: int, title: str) -> UpstreamError:
    body = f"<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1></body></html>"
    return UpstreamError(status, body.encode(), content_type="text/html")


IMPROPER = kiro_error(400, "Improperly formed request.")
TOO_LONG = kiro_error(400, "Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD")
INVALID_MODEL = kiro_error(
    400, "Invalid model. Please select a different model to continue.", "INVALID_MODEL_ID"
)
SIGNATURE_INVALID = kiro_error(400, "Invalid signature in thinking block.", "THINKING_SIGNATURE_INVALID")
REASONING_FIELDS = kiro_error(400, "Invalid additionalModelRequestFields.", "REQUEST_BODY_INVALID")
TOOL_FORMAT = kiro_error(400, "Invalid tool use format.", "REQUEST_BODY_INVALID")
TOOL_CONFIG_MISSING = kiro_error(
    400, "Tool configuration is missing for a tool used in the conversation.", "TOOL_CONFIG_MISSING"
)
BEARER_INVALID = kiro_error(403, "The bearer token included in the request is invalid.")
NOT_AUTHORIZED = kiro_error(403, "User is not authorized to make this call.")
QUOTA = kiro_error(402, "You have reached the limit.", "MONTHLY_REQUEST_COUNT")
# The 2026 reason table (reference §19.3): quota, account speed, model capacity.
OVERAGE = kiro_error(402, "You have reached the overage limit.", "OVERAGE_REQUEST_LIMIT_EXCEEDED")
CONVERSATION_LIMIT = kiro_error(
    402, "You have reached the conversation limit.", "CONVERSATION_LIMIT_EXCEEDED"
)
MONTHLY_THROTTLE = kiro_error(429, "You have reached the monthly request limit.", "MONTHLY_REQUEST_COUNT")
USER_RATE = kiro_error(
    429, "Too many requests, please wait before trying again.", "USER_REQUEST_RATE_EXCEEDED"
)
CREDIT_RATE = kiro_error(
    429, "You are consuming credits too quickly, please slow down.", "CREDIT_CONSUMPTION_RATE_EXCEEDED"
)
THROTTLED = kiro_error(429, "Rate exceeded")  # a plain 429 without a reason
SERVICE_RATE = kiro_error(
    429,
    "The service is receiving too many requests, please try again later.",
    "SERVICE_REQUEST_RATE_EXCEEDED",
)
CAPACITY = kiro_error(
    429, "I am experiencing high traffic, please try again shortly.", "INSUFFICIENT_MODEL_CAPACITY"
)
SUSPICIOUS = kiro_error(
    429,
    "We have detected suspicious activity on your account and applied temporary limits. "
    "Please try again later.",
)
DAILY_LIMIT = kiro_error(429, "You have reached the daily request limit.", "DAILY_REQUEST_COUNT")
UNAVAILABLE = kiro_error(
    500,
    "Encountered unexpectedly high load when processing the request, please try again.",
    "MODEL_TEMPORARILY_UNAVAILABLE",
)
INTERNAL = kiro_error(500, "Encountered an unexpected error when processing the request, please try again.")


def suspended(user_id: str) -> UpstreamError:
    """403 for a suspended account; refreshing the token does not help (§8.2, §8.3)."""
    return kiro_error(
        403,
        f"Your User ID ({user_id}) is temporarily suspended as a security precaution. "
        "Please contact support to restore access.",
        "TEMPORARILY_SUSPENDED",
    )


PRESETS: dict[str, UpstreamError] = {
    "improper": IMPROPER,
    "too_long": TOO_LONG,
    "invalid_model": INVALID_MODEL,
    "tool_format": TOOL_FORMAT,
    "tool_config_missing": TOOL_CONFIG_MISSING,
    "bearer": BEARER_INVALID,
    "not_authorized": NOT_AUTHORIZED,
    "suspended": suspended("sim-user"),
    "quota": QUOTA,
    "overage": OVERAGE,
    "conversation_limit": CONVERSATION_LIMIT,
    "monthly_limit": MONTHLY_THROTTLE,
    "user_rate": USER_RATE,
    "credit_rate": CREDIT_RATE,
    "throttled": THROTTLED,
    "service_rate": SERVICE_RATE,
    "capacity": CAPACITY,
    "suspicious": SUSPICIOUS,
    "daily_limit": DAILY_LIMIT,
    "unavailable": UNAVAILABLE,
    "internal": INTERNAL,
    "bad_gateway": html_error(502, "Bad Gateway"),
    "service_unavailable": html_error(503, "Service Unavailable"),
    "gateway_timeout": html_error(504, "Gateway Timeout"),
}

# Default payloads of in-stream exceptions (§5.6, fixtures/README.md).
EXCEPTION_PAYLOADS: dict[str, dict[str, str]] = {
    "ThrottlingException": {"message": "Rate exceeded", "reason": "INSUFFICIENT_MODEL_CAPACITY"},
    "ContentLengthExceededException": {"message": "Content length exceeded"},
    "InternalServerException": {
        "message": "Encountered an unexpected error when processing the request, please try again."
    },
    "ServiceUnavailableException": {"message": "Service unavailable"},
    "ValidationException": {"message": "Improperly formed request."},
}


class Rejected(Exception):
    """A request refused before streaming: which rule fired and what to answer."""

    def __init__(self, rule: Rule, error: UpstreamError, detail: str = "") -> None:
        super().__init__(f"{rule.value}: {detail}" if detail else rule.value)
        self.rule = rule
        self.error = error
        self.detail = detail
