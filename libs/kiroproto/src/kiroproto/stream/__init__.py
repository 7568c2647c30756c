"""The response side: Kiro events → one state machine → per-API renderers and folds.

    Message --parse_kiro_message--> KiroEvent --ResponseAssembler--> OutputEvent
        --AnthropicSSERenderer / OpenAIChunkRenderer--> bytes
        --fold_anthropic / fold_openai--> non-streaming response models

Typical gateway loop (the async shell around it lives in the gateway, once):

    assembler = ResponseAssembler(options); renderer = AnthropicSSERenderer(options)
    send(renderer.start())
    for message in decoder:            # after decoder.feed(chunk)
        send(renderer.render_all(assembler.feed(parse_kiro_message(message))))
    send(renderer.render_all(assembler.finish()))

Deliberately not here: I/O, retries, keep-alive timing (the gateway calls `ping()`).
"""

from kiroproto.stream.anthropic_sse import AnthropicSSERenderer
from kiroproto.stream.assembler import KIRO_STOP_REASONS, ResponseAssembler, upstream_failure
from kiroproto.stream.events import (
    BlockDelta,
    BlockKind,
    BlockStart,
    BlockStop,
    DeltaKind,
    MessageEnd,
    OutputEvent,
    StopReason,
    StreamFailure,
    Usage,
)
from kiroproto.stream.fold import StreamFailedError, fold_anthropic, fold_openai
from kiroproto.stream.kiro_events import (
    ContextUsage,
    Ignored,
    KiroEvent,
    Metadata,
    Metering,
    ReasoningFragment,
    TextFragment,
    TokenUsage,
    ToolUseFragment,
    UpstreamException,
    parse_kiro_message,
)
from kiroproto.stream.openai_chunks import FINISH_REASONS, OpenAIChunkRenderer, OpenAIChunkState
from kiroproto.stream.options import StreamOptions
from kiroproto.stream.renderer import Renderer
from kiroproto.stream.stop_sequences import StopSequenceMatcher
from kiroproto.stream.thinking import Piece, PieceKind, ThinkingExtractor
from kiroproto.stream.usage import input_tokens, output_tokens

__all__ = [
    "FINISH_REASONS",
    "KIRO_STOP_REASONS",
    "AnthropicSSERenderer",
    "BlockDelta",
    "BlockKind",
    "BlockStart",
    "BlockStop",
    "ContextUsage",
    "DeltaKind",
    "Ignored",
    "KiroEvent",
    "MessageEnd",
    "Metadata",
    "Metering",
    "OpenAIChunkRenderer",
    "OpenAIChunkState",
    "OutputEvent",
    "Piece",
    "PieceKind",
    "ReasoningFragment",
    "Renderer",
    "ResponseAssembler",
    "StopReason",
    "StopSequenceMatcher",
    "StreamFailedError",
    "StreamFailure",
    "StreamOptions",
    "TextFragment",
    "ThinkingExtractor",
    "TokenUsage",
    "ToolUseFragment",
    "UpstreamException",
    "Usage",
    "fold_anthropic",
    "fold_openai",
    "input_tokens",
    "output_tokens",
    "parse_kiro_message",
    "upstream_failure",
]
