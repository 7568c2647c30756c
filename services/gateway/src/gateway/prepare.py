"""From the request body to what the exchange needs: parse, validate, resolve, convert, count.

These are the CPU-heavy steps of a chat request (JSON parse, pydantic validation, the Kiro
conversion and its serialisation, token counting). They are plain module-level functions of
`(body, model map)` with picklable, typed results, so `bodies.py` runs them inline for small
bodies and in the `Offloader`'s worker processes for large ones: the same code either way.
Client errors are raised as `GatewayError`s (picklable: they cross the process boundary as
they are); a conversion refusal is carried in `Prepared.failure` instead, so the route can
check the team key's model allow-list (403) before it (400), as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from gateway.errors import GatewayError, InternalError, InvalidRequest, Overloaded, invalid_from_validation
from gateway.media.prepare import prepare_request_here
from gateway.websearch import SearchPlan, search_plan
from kiroproto.anthropic.request import CountTokensRequest, MessagesRequest
from kiroproto.convert import convert_anthropic_request, convert_openai_request
from kiroproto.convert.reasoning import ReasoningPlan
from kiroproto.convert.session import client_session_id, conversation_id_for
from kiroproto.errors import ConversionError
from kiroproto.jsondepth import MAX_JSON_DEPTH, json_depth_exceeds
from kiroproto.models import ModelMap, ResolvedModel
from kiroproto.openai.request import ChatCompletionRequest
from kiroproto.stream import StreamOptions
from kiroproto.tokens import EstimatingTokenCounter, count_request_tokens

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chat request ready for `exchange.answer` (message id and `created` are set there)."""

    requested: str  # the model name the client sent
    stream: bool
    model: ResolvedModel
    options: StreamOptions
    body: bytes  # the Kiro body without `profileArn` (exchange.KiroBody adds it per credential)
    repairs: tuple[str, ...] = ()
    failure: GatewayError | None = None  # the conversion refused the request (body is empty)
    include_usage: bool = False  # OpenAI `stream_options.include_usage`
    reasoning: ReasoningPlan = field(default_factory=ReasoningPlan)  # per-account shaping (exchange.KiroBody)
    session_id: str | None = None  # the client's session: one account, one conversationId (§19.2)
    search: SearchPlan | None = None  # Anthropic web search (websearch.py)
    ignored_search_options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Counted:
    """A `count_tokens` answer."""

    requested: str
    model: ResolvedModel
    input_tokens: int


class SampledEstimator(EstimatingTokenCounter):
    """The estimator (`EstimatingTokenCounter`) on evenly spaced slices of a long text, scaled to
    its length: a request's texts beyond 256 K characters are estimated from 64 slices of 4 K.
    The `message_start` estimate of a 5 MB history then costs about 20 ms instead of 150 ms
    (`make bench`, the large-history row), within 2 % on prose and code (the upstream's context
    usage replaces it anyway)."""

    __slots__ = ("_limit", "_slices")

    def __init__(self, *, limit_chars: int = 262_144, slices: int = 64) -> None:
        super().__init__()
        self._limit = limit_chars
        self._slices = slices

    def count_text(self, text: str) -> int:
        count = super().count_text
        if len(text) <= self._limit:
            return count(text)
        size = self._limit // self._slices
        step = len(text) // self._slices
        sampled = sum(count(text[i * step : i * step + size]) for i in range(self._slices))
        return round(sampled * len(text) / (size * self._slices))


def conversion_error(exc: ConversionError) -> GatewayError:
    if exc.status_hint == 400:
        return InvalidRequest(exc.message)
    if exc.status_hint in (529, 503):
        return Overloaded(exc.message, retry_after=1.0)
    return InternalError(exc.message)


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    if not body.strip():
        raise InvalidRequest("request body is empty: expected a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"request body must be a JSON object, not {type(data).__name__}")
    if json_depth_exceeds(data, MAX_JSON_DEPTH):
        raise InvalidRequest(f"request body nests JSON deeper than {MAX_JSON_DEPTH} levels")
    return data


def parse_as(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc) from exc


def resolve(models: ModelMap, name: str) -> ResolvedModel:
    try:
        return models.resolve(name)
    except ConversionError as exc:
        raise InvalidRequest(exc.message) from exc


def prepare_anthropic(
    req: MessagesRequest,
    model: ResolvedModel,
    *,
    include_usage: bool = False,
    web_search: bool = False,
    session_header: str | None = None,
) -> Prepared:
    """Convert a validated request (the one path into Kiro for both API flavours)."""
    req = prepare_request_here(req)  # PDFs and images made ready for Kiro (media/)
    estimate = count_request_tokens(req, SampledEstimator())  # cheap; /count_tokens uses BPE
    try:
        # one session: one account (the broker's stickiness) and one conversationId (§19.2, §19.8)
        session_id = client_session_id(session_header, req.metadata.user_id if req.metadata else None)
        conversation_id = conversation_id_for(session_id) if session_id else None
        conversion = convert_anthropic_request(req, model, conversation_id=conversation_id)
    except ConversionError as exc:
        options = StreamOptions(model=req.model, message_id="", input_tokens_estimate=estimate)
        return Prepared(req.model, bool(req.stream), model, options, b"", failure=conversion_error(exc))
    options = StreamOptions(
        model=req.model,
        message_id="",
        thinking=conversion.thinking,
        tool_name_map=dict(conversion.tool_name_map),  # picklable (a worker's result)
        stop_sequences=conversion.stop_sequences,
        input_tokens_estimate=estimate,
        context_window=model.context_window,
    )
    wire = conversion.body.to_wire()
    wire.pop("profileArn", None)
    search, ignored = search_plan(req, conversion.body) if web_search else (None, ())
    return Prepared(
        requested=req.model,
        stream=bool(req.stream),
        model=model,
        options=options,
        body=orjson.dumps(wire),
        repairs=conversion.repairs,
        include_usage=include_usage,
        reasoning=conversion.reasoning,
        session_id=session_id,
        search=search,
        ignored_search_options=ignored,
    )


def prepare_messages(body: bytes, models: ModelMap, session_header: str | None = None) -> Prepared:
    """`POST /v1/messages`."""
    req = parse_as(MessagesRequest, parse_json(body))
    model = resolve(models, req.model)
    return prepare_anthropic(req, model, web_search=True, session_header=session_header)


def prepare_chat(body: bytes, models: ModelMap, session_header: str | None = None) -> Prepared:
    """`POST /v1/chat/completions`, through the Anthropic path."""
    req = parse_as(ChatCompletionRequest, parse_json(body))
    model = resolve(models, req.model)
    try:
        messages_req = convert_openai_request(req)
    except ConversionError as exc:
        raise conversion_error(exc) from exc
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    return prepare_anthropic(messages_req, model, include_usage=include_usage, session_header=session_header)


def count_tokens(body: bytes, models: ModelMap) -> Counted:
    """`POST /v1/messages/count_tokens`."""
    req = parse_as(CountTokensRequest, parse_json(body))
    model = resolve(models, req.model)
    req = prepare_request_here(req)  # count what documents and images become
    return Counted(req.model, model, count_request_tokens(req))
