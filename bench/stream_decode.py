"""Benchmark: decoding a long simulated Kiro answer, from upstream bytes to client bytes.

Workloads (built with the project's encoder, deterministic):
- `text`: 20,000 `assistantResponseEvent` frames of 2-8 characters, then 3 tool calls
  (open frame, empty-input frame, 100 input fragments, stop frame), then contextUsageEvent
  and meteringEvent;
- `thinking`: the same shape, but the text starts with `<thinking>...</thinking>\\n\\n`
  (tags split across frames), decoded with thinking extraction on.

Rows:
- floor: a minimal hand loop over the whole body that checks both CRCs with `zlib.crc32` and
  `orjson.loads` each payload: the least work any decoder has to do;
- decoder: `EventStreamDecoder` fed in 1-4 KB chunks (how HTTP delivers the body);
- + parse_kiro_message: each message turned into a `KiroEvent`;
- full -> Anthropic SSE / OpenAI chunks: + `ResponseAssembler` + the renderer.

Rows whose modules are not importable yet are listed as skipped, so the decoder is measured
on its own until the stream package lands.
"""

from __future__ import annotations

import functools
import importlib
import random
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from bench._harness import Config, Measurement, Table, best_of_interleaved
from kiroproto.eventstream import EventStreamDecoder, encode_event

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
_WORDS = (
    "the quick brown fox jumps over a lazy dog; "
    'def main(): return {"ok": true} \\n '
    "résumé naïve café 中文字符 テスト "
    "\tindent\nnew line "
).split(" ")


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    thinking: bool
    body: bytes
    chunks: tuple[bytes, ...]
    frames: int
    tool_calls: int


def _prose(rng: random.Random, length: int) -> str:
    out: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS) + " "
        out.append(word)
        size += len(word)
    return "".join(out)[:length]


def _cut(text: str, rng: random.Random, low: int = 2, high: int = 8) -> list[str]:
    pieces: list[str] = []
    pos = 0
    while pos < len(text):
        step = rng.randint(low, high)
        pieces.append(text[pos : pos + step])
        pos += step
    return pieces


def _even_pieces(text: str, count: int) -> list[str]:
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]


def build_workload(
    name: str, *, text_frames: int, tool_calls: int, fragments: int, seed: int = 7
) -> Workload:
    rng = random.Random(seed)
    thinking = name == "thinking"
    if thinking:
        reasoning = _prose(rng, text_frames * 5 // 4)
        answer = _prose(rng, text_frames * 5 - len(reasoning))
        text = f"<thinking>\n{reasoning}\n</thinking>\n\n{answer}"
    else:
        text = _prose(rng, text_frames * 5)
    pieces = _cut(text, rng)
    frames = [encode_event("assistantResponseEvent", orjson.dumps({"content": piece})) for piece in pieces]
    for call in range(tool_calls):
        tool_id = f"tooluse_bench{call:04d}{rng.getrandbits(48):012x}"
        tool = ("Write", "Read", "Bash")[call % 3]
        arguments = {"path": f"/src/module_{call}.py", "content": _prose(rng, fragments * 20)}
        args = orjson.dumps(arguments).decode()
        frames.append(encode_event("toolUseEvent", orjson.dumps({"name": tool, "toolUseId": tool_id})))
        frames.append(
            encode_event("toolUseEvent", orjson.dumps({"input": "", "name": tool, "toolUseId": tool_id}))
        )
        for piece in _even_pieces(args, fragments):
            payload = orjson.dumps({"input": piece, "name": tool, "toolUseId": tool_id})
            frames.append(encode_event("toolUseEvent", payload))
        frames.append(
            encode_event("toolUseEvent", orjson.dumps({"name": tool, "stop": True, "toolUseId": tool_id}))
        )
    frames.append(encode_event("contextUsageEvent", b'{"contextUsagePercentage":12.345678}'))
    frames.append(encode_event("meteringEvent", b'{"unit":"credit","unitPlural":"credits","usage":0.0148}'))
    body = b"".join(frames)
    chunks: list[bytes] = []
    pos = 0
    while pos < len(body):
        step = rng.randint(1024, 4096)
        chunks.append(body[pos : pos + step])
        pos += step
    return Workload(name, thinking, body, tuple(chunks), len(frames), tool_calls)


# --------------------------------------------------------------------------- floor and decoder


def floor_loop(body: bytes) -> int:
    """CRC-check every frame and orjson.loads its payload; no buffering, no objects."""
    view = memoryview(body)
    crc32 = zlib.crc32
    loads = orjson.loads
    unpack_prelude = _PRELUDE.unpack_from
    unpack_u32 = _U32.unpack_from
    pos = 0
    count = 0
    end_of_body = len(body)
    while pos < end_of_body:
        total, headers_length, prelude_crc = unpack_prelude(body, pos)
        end = pos + total
        if crc32(view[pos : pos + 8]) != prelude_crc:
            raise ValueError("bad prelude CRC in the benchmark body")
        if crc32(view[pos : end - 4]) != unpack_u32(body, end - 4)[0]:
            raise ValueError("bad CRC in the benchmark body")
        loads(view[pos + 12 + headers_length : end - 4])
        pos = end
        count += 1
    return count


def decode_only(chunks: Iterable[bytes]) -> int:
    decoder = EventStreamDecoder()
    count = 0
    for chunk in chunks:
        decoder.feed(chunk)
        for _ in decoder:
            count += 1
    decoder.close()
    return count


# --------------------------------------------------------------------------- stream pipeline


@dataclass(frozen=True, slots=True)
class Pipeline:
    parse: Callable[[Any], Any] | None
    assembler: type[Any] | None
    options: type[Any] | None
    renderers: dict[str, type[Any]]
    missing: dict[str, str]  # what is not importable yet, and why


def load_pipeline() -> Pipeline:
    """Import what exists of the stream package; record what does not (yet)."""
    found: dict[str, Any] = {}
    missing: dict[str, str] = {}
    wanted = {
        "parse": ("kiroproto.stream.kiro_events", "parse_kiro_message"),  # (module, attribute)
        "assembler": ("kiroproto.stream.assembler", "ResponseAssembler"),
        "options": ("kiroproto.stream.options", "StreamOptions"),
        "anthropic": ("kiroproto.stream.anthropic_sse", "AnthropicSSERenderer"),
        "openai": ("kiroproto.stream.openai_chunks", "OpenAIChunkRenderer"),
    }
    for key, (module, attr) in wanted.items():
        try:
            found[key] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            missing[key] = f"{module}.{attr} not importable ({type(exc).__name__})"
    renderers: dict[str, type[Any]] = {k: found[k] for k in ("anthropic", "openai") if k in found}
    return Pipeline(found.get("parse"), found.get("assembler"), found.get("options"), renderers, missing)


def parse_only(chunks: Iterable[bytes], parse: Callable[[Any], Any]) -> int:
    decoder = EventStreamDecoder()
    count = 0
    for chunk in chunks:
        decoder.feed(chunk)
        for message in decoder:
            parse(message)
            count += 1
    decoder.close()
    return count


def full_path(chunks: Iterable[bytes], pipeline: Pipeline, renderer_cls: type[Any], thinking: bool) -> int:
    """Upstream bytes to client bytes; returns the number of output bytes produced."""
    assert pipeline.parse is not None and pipeline.assembler is not None and pipeline.options is not None
    options = pipeline.options(model="claude-sonnet-4-5", message_id="msg_bench", thinking=thinking)
    parse = pipeline.parse
    assembler = pipeline.assembler(options)
    renderer = renderer_cls(options)
    render = renderer.render
    feed = assembler.feed
    out = len(renderer.start())
    decoder = EventStreamDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
        for message in decoder:
            for event in feed(parse(message)):
                out += len(render(event))
    decoder.close()
    for event in assembler.finish():
        out += len(render(event))
    return out


def check_full_path(work: Workload, pipeline: Pipeline) -> int:
    """Untimed: the assembler must produce the blocks the workload implies and end normally,
    so a failure path (which would stop early and look fast) is never what gets measured."""
    assert pipeline.parse is not None and pipeline.assembler is not None and pipeline.options is not None
    options = pipeline.options(model="claude-sonnet-4-5", message_id="msg_bench", thinking=work.thinking)
    assembler = pipeline.assembler(options)
    decoder = EventStreamDecoder()
    decoder.feed(work.body)
    events = [event for message in decoder for event in assembler.feed(pipeline.parse(message))]
    events += assembler.finish()
    kinds = [event.kind for event in events if type(event).__name__ == "BlockStart"]
    expected = ["thinking"] if work.thinking else []
    expected += ["text"] + ["tool_use"] * work.tool_calls
    last = events[-1]
    if kinds != expected or type(last).__name__ != "MessageEnd" or last.stop_reason != "tool_use":
        raise AssertionError(f"unexpected pipeline output: blocks {kinds}, last event {last!r}")
    return len(events)


# --------------------------------------------------------------------------- the benchmark


def run(config: Config) -> list[Table]:
    if config.quick:
        sizes = {"text_frames": 2_000, "tool_calls": 3, "fragments": 20}
    else:
        sizes = {"text_frames": 20_000, "tool_calls": 3, "fragments": 100}
    pipeline = load_pipeline()
    tables: list[Table] = []
    for name in ("text", "thinking"):
        work = build_workload(name, **sizes)
        tables.append(_measure(work, pipeline, config))
    return tables


def _measure(work: Workload, pipeline: Pipeline, config: Config) -> Table:
    size = len(work.body)
    table = Table(
        f"stream_decode [{work.name}]: {work.frames:,} frames, {size / 1e6:.2f} MB "
        f"in {len(work.chunks):,} chunks of 1-4 KB, best of {config.repeat}"
    )
    chunks = work.chunks

    if floor_loop(work.body) != work.frames or decode_only(chunks) != work.frames:
        raise AssertionError("decoder and floor disagree on the number of frames")
    floor_name = "floor: crc32 + orjson.loads"
    runs: dict[str, Callable[[], object]] = {
        floor_name: functools.partial(floor_loop, work.body),
        "decoder": functools.partial(decode_only, chunks),
    }
    if pipeline.parse is None:
        table.skip("decoder + parse_kiro_message", pipeline.missing["parse"])
    else:
        runs["decoder + parse_kiro_message"] = functools.partial(parse_only, chunks, pipeline.parse)
    if not any(k in pipeline.missing for k in ("parse", "assembler", "options")):
        table.notes.append(
            f"assembler: {check_full_path(work, pipeline):,} output events, ends with MessageEnd"
        )
    for key, label in (("anthropic", "full -> Anthropic SSE"), ("openai", "full -> OpenAI chunks")):
        why = [pipeline.missing[k] for k in ("parse", "assembler", "options", key) if k in pipeline.missing]
        if why:
            table.skip(label, "; ".join(why))
            continue
        run_once = functools.partial(full_path, chunks, pipeline, pipeline.renderers[key], work.thinking)
        table.notes.append(f"{label}: {run_once() / 1e6:.2f} MB written to the client")
        runs[label] = run_once
    for name, seconds in best_of_interleaved(runs, config.repeat).items():
        table.add(Measurement(name, work.frames, seconds, size, None if name == floor_name else floor_name))
    return table
