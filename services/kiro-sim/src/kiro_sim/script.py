"""Deterministic scripting: what the simulator answers, chosen per request or per token/account.

A `Script` says what one response looks like (text, thinking, tool calls, an HTTP error, a
mid-stream exception, a cut connection, delays, chunking...). Scripts come from, in order of
precedence:

1. a directive in the current user message: `<<sim:{...JSON script...}>>` (see `find_directive`);
2. the access token's slots, then the account's slots (`ScriptSlots`): fault entries (next N
   requests and/or for S seconds), then the queue (consumed in order), then the sticky default.

A request with no script gets the default answer (`Echo: <user text>`).

Deliberately not here: turning a script into frames (`plan.py`) or bytes on the wire
(`stream.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiro_sim.errors import PRESETS, UpstreamError, kiro_error
from kiro_sim.settings import Chunking

Surface = Literal["chat", "refresh", "usage", "models", "mcp"]
DIRECTIVE_OPEN = "<<sim:"
DIRECTIVE_CLOSE = ">>"


class ToolCallScript(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None  # default: the first tool declared in the request
    input: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None  # default: tooluse_ + 22 seeded characters
    stop: bool = True  # false: leave out the closing `stop` frame (an unfinished call, §19.1)


KiroStopReason = Literal[
    "END_TURN", "TOOL_USE", "MAX_TOKENS", "MODEL_CONTEXT_WINDOW_EXCEEDED", "CONTENT_FILTERED", "PAUSE_TURN"
]


class MetadataScript(BaseModel):
    """A `metadataEvent` before the trailer (kiro-protocol.md §19.1), as the newer host sends it.
    Cache counts are sent only when given (API-key streams carry none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_usage: bool = True
    uncached_input_tokens: int | None = Field(default=None, ge=0)  # default: the request's count
    output_tokens: int | None = Field(default=None, ge=0)  # default: answer characters / 4
    cache_read_input_tokens: int | None = Field(default=None, ge=0)
    cache_write_input_tokens: int | None = Field(default=None, ge=0)
    stop_reason: KiroStopReason | None = None
    refusal: str | None = None  # `stopDetails.refusal`


class Script(BaseModel):
    """One scripted response. Every field is optional; see the README for the semantics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Content.
    text: str | None = None
    text_length: int | None = Field(default=None, ge=0, le=10_000_000)
    thinking: str | None = None
    tool_calls: list[ToolCallScript] = Field(default_factory=list)
    fragment_max: int | None = Field(default=None, ge=1)

    # HTTP error instead of a stream.
    error: str | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    body: dict[str, Any] | str | None = None
    retry_after: int | str | None = None

    # Trouble inside the 200 stream.
    exception: str | None = None
    exception_message: str | None = None
    exception_reason: str | None = None
    exception_after: int = Field(default=0, ge=0)
    cut_after: int | None = Field(default=None, ge=0)
    cut_partial_bytes: int = Field(default=0, ge=0)

    # Timing and shape.
    first_byte_delay: float = Field(default=0.0, ge=0, le=600)
    event_delay: float = Field(default=0.0, ge=0, le=60)
    hold: str | None = None
    chunking: Chunking | None = None
    seed: int | None = None

    # MCP web search (surface "mcp"): the results to return, or a failure.
    search_results: list[dict[str, Any]] | None = None
    search_error: Literal["rpc", "is_error"] | None = None

    # Trailer (`metadata` comes first, and is not a trailer on its own).
    metadata: MetadataScript | None = None
    context_usage: bool = True
    metering: bool = True
    context_usage_percentage: float | None = Field(default=None, ge=0)
    credits: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_error(self) -> Script:
        if self.error is not None and self.error not in PRESETS:
            raise ValueError(f"unknown error preset {self.error!r}; known: {sorted(PRESETS)}")
        if self.body is not None and self.status is None and self.error is None:
            raise ValueError("`body` needs `status` or `error`")
        return self

    def upstream_error(self) -> UpstreamError | None:
        """The HTTP error this script asks for, if any."""
        if self.error is None and self.status is None:
            return None
        base = PRESETS[self.error] if self.error is not None else None
        status = self.status if self.status is not None else (base.status if base else 500)
        if self.body is not None:
            if isinstance(self.body, str):
                error = UpstreamError(status, self.body.encode(), content_type="text/plain")
            else:
                error = UpstreamError(status, orjson.dumps(self.body))
        elif base is not None:
            error = UpstreamError(status, base.body, base.content_type, base.headers)
        else:
            error = kiro_error(status, "Scripted error.")
        return error.with_retry_after(None if self.retry_after is None else str(self.retry_after))


class DirectiveError(ValueError):
    """A `<<sim:...>>` directive that does not parse or is not a valid script."""


@dataclass(frozen=True, slots=True)
class Directive:
    script: Script
    stripped_text: str  # the text with the directive removed


_decoder = json.JSONDecoder()


def find_directive(text: str) -> Directive | None:
    """Find `<<sim:{json}>>` in `text`. The JSON object is parsed with a real JSON parser, so it
    may contain `>>` inside strings. Raises DirectiveError for a malformed directive."""
    start = text.find(DIRECTIVE_OPEN)
    if start < 0:
        return None
    pos = start + len(DIRECTIVE_OPEN)
    try:
        obj, end = _decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise DirectiveError(f"directive JSON does not parse: {exc}") from exc
    if not text.startswith(DIRECTIVE_CLOSE, end):
        raise DirectiveError("directive JSON must be followed by '>>'")
    if not isinstance(obj, dict):
        raise DirectiveError("directive must be a JSON object")
    try:
        script = Script.model_validate(obj)
    except ValueError as exc:
        raise DirectiveError(f"invalid script: {exc}") from exc
    stripped = (text[:start] + text[end + len(DIRECTIVE_CLOSE) :]).strip()
    return Directive(script, stripped)


@dataclass(slots=True)
class _Entry:
    script: Script
    surface: Surface
    remaining: int | None  # None: unlimited (until `until`)
    until: float | None  # clock time after which the entry is dropped


@dataclass(slots=True)
class ScriptSlots:
    """Scripts attached to one access token or one account."""

    faults: list[_Entry] = field(default_factory=list)
    queue: list[_Entry] = field(default_factory=list)
    sticky: dict[str, Script] = field(default_factory=dict)

    def add_fault(self, script: Script, surface: Surface, times: int | None, until: float | None) -> None:
        self.faults.append(_Entry(script, surface, times, until))

    def enqueue(self, script: Script, surface: Surface) -> None:
        self.queue.append(_Entry(script, surface, 1, None))

    def set_sticky(self, script: Script | None, surface: Surface) -> None:
        if script is None:
            self.sticky.pop(surface, None)
        else:
            self.sticky[surface] = script

    def clear(self) -> None:
        self.faults.clear()
        self.queue.clear()
        self.sticky.clear()

    def take(self, surface: Surface, now: float) -> Script | None:
        """The script for the next request on `surface`, consuming it where it is counted."""
        for entries in (self.faults, self.queue):
            for entry in list(entries):
                if entry.until is not None and now >= entry.until:
                    entries.remove(entry)
                    continue
                if entry.surface != surface:
                    continue
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        entries.remove(entry)
                return entry.script
        return self.sticky.get(surface)

    def describe(self) -> dict[str, Any]:
        return {
            "faults": [
                {"surface": e.surface, "remaining": e.remaining, "until": e.until, "script": _dump(e.script)}
                for e in self.faults
            ],
            "queue": [{"surface": e.surface, "script": _dump(e.script)} for e in self.queue],
            "sticky": {surface: _dump(script) for surface, script in self.sticky.items()},
        }

    @property
    def empty(self) -> bool:
        return not (self.faults or self.queue or self.sticky)


def _dump(script: Script) -> dict[str, Any]:
    return script.model_dump(exclude_defaults=True)
