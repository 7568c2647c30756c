"""kiroproto: the Kiro protocol library (sans-IO).

Bytes in, events out: the AWS event-stream codec, Anthropic / OpenAI / Kiro wire models,
request converters, the streaming state machine and its per-API renderers, the model map,
token counting and the NATS bus contracts. No sockets, no asyncio, no logging.
"""

from kiroproto.errors import (
    ConversionError,
    DecodeError,
    FrameLengthError,
    HeaderError,
    KiroProtoError,
    MessageCRCError,
    PreludeCRCError,
    TruncatedFrameError,
)

__all__ = [
    "ConversionError",
    "DecodeError",
    "FrameLengthError",
    "HeaderError",
    "KiroProtoError",
    "MessageCRCError",
    "PreludeCRCError",
    "TruncatedFrameError",
]
