"""Errors raised by kiroproto.

    KiroProtoError
    ├── DecodeError                  bytes that are not a valid AWS event-stream
    │   ├── PreludeCRCError          prelude checksum mismatch
    │   ├── MessageCRCError          message checksum mismatch
    │   ├── FrameLengthError         impossible or over-limit lengths
    │   ├── HeaderError              malformed header record
    │   └── TruncatedFrameError      stream ended inside a frame
    └── ConversionError              a client request that cannot be turned into a Kiro request

Every error carries `status_hint` (the HTTP status a service should answer with) and
`error_type` (the Anthropic error type), in the manner of h11's `error_status_hint`, so that a
service maps errors without guessing. kiroproto never logs and never renders HTTP.
"""

from __future__ import annotations


class KiroProtoError(Exception):
    """Root of every error raised by kiroproto."""

    status_hint: int = 500
    error_type: str = "api_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DecodeError(KiroProtoError):
    """The upstream sent bytes that are not a valid event-stream (a 502 for the client)."""

    status_hint = 502
    error_type = "api_error"


class PreludeCRCError(DecodeError):
    pass


class MessageCRCError(DecodeError):
    pass


class FrameLengthError(DecodeError):
    pass


class HeaderError(DecodeError):
    pass


class TruncatedFrameError(DecodeError):
    pass


class ConversionError(KiroProtoError):
    """A client request that cannot be converted; `status_hint` is usually 400."""

    def __init__(
        self, message: str, *, status_hint: int = 400, error_type: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.status_hint = status_hint
        self.error_type = error_type
