"""OpenAI `ChatCompletionRequest` -> Anthropic `MessagesRequest` (kiro-protocol.md §4.12).

OpenAI requests are first turned into the Anthropic shape, so there is one path into Kiro:

- `system` / `developer` messages -> the system prompt (in order);
- user text / `image_url` parts -> text / base64 image blocks (`data:` URLs only; an http(s)
  URL is a 400, as are `input_audio` and unknown parts);
- user `file` parts with `file_data` (a `data:` URL, e.g. of a PDF) -> base64 document blocks
  titled with `filename` (the gateway converts PDFs); a `file_id` alone is a 400;
- assistant `tool_calls` (and the deprecated `function_call`) -> `tool_use` blocks, arguments
  parsed as a JSON object (invalid JSON or a non-object is a 400; `""` means `{}`);
- `tool` messages (and the deprecated `function` role) -> user `tool_result` blocks; consecutive
  ones share one user message;
- `stop` -> `stop_sequences`; `max_completion_tokens` or `max_tokens` (default
  `DEFAULT_MAX_TOKENS`) -> `max_tokens`; `user` -> `metadata.user_id`;
- `tools` / `functions` -> custom tools; `tool_choice` and `parallel_tool_calls` -> Anthropic's;
- `reasoning_effort` -> adaptive thinking with that effort (`none` -> thinking disabled);
- `response_format` `json_object` / `json_schema` -> an extra system instruction asking for
  JSON (matching the schema). Best effort: Kiro has no structured-output mode, so the answer is
  not validated against the schema;
- `n` other than 1 is a 400. Sampling fields, `seed`, `logprobs`, ... are ignored.
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from kiroproto.anthropic.request import (
    Base64Source,
    ContentBlock,
    CustomTool,
    DocumentBlock,
    Effort,
    ImageBlock,
    Message,
    MessagesRequest,
    Metadata,
    OutputConfig,
    TextBlock,
    ThinkingAdaptive,
    ThinkingConfig,
    ThinkingDisabled,
    Tool,
    ToolChoice,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolResultBlock,
    ToolUseBlock,
)
from kiroproto.errors import ConversionError
from kiroproto.jsondepth import MAX_JSON_DEPTH, json_depth_exceeds
from kiroproto.openai.request import (
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    DeveloperMessage,
    FilePart,
    FunctionCall,
    FunctionMessage,
    ImageURLPart,
    NamedToolChoice,
    OtherPart,
    RefusalPart,
    ResponseFormat,
    ResponseFormatJsonObject,
    ResponseFormatJsonSchema,
    ResponseFormatText,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)

DEFAULT_MAX_TOKENS = 32_000
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no Markdown code fences."
)
JSON_VALUE_INSTRUCTION = (
    "Respond with a single valid JSON value and nothing else: no prose, no Markdown code fences."
)
_EFFORTS: dict[str, Effort] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "max",
    "max": "max",
}
_LEGACY_CALL_PREFIX = "call_legacy_"


def _text_of(content: str | list[ContentPart] | None, where: str) -> str:
    """Text of a system / developer / tool / assistant content (text and refusal parts only)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, RefusalPart):
            texts.append(part.refusal)
        else:
            raise ConversionError(f"content part type '{part.type}' is not supported in {where} messages")
    return "\n".join(texts)


def _image_block(part: ImageURLPart) -> ImageBlock:
    url = part.image_url.url
    if not url.startswith("data:"):
        raise ConversionError("image URLs are not supported: send the image inline as a data: URL (base64)")
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise ConversionError("image data URLs must be base64-encoded (data:<media type>;base64,<data>)")
    media_type = header[len("data:") : -len(";base64")]
    return ImageBlock(type="image", source=Base64Source(type="base64", media_type=media_type, data=data))


def _document_block(part: FilePart) -> DocumentBlock:
    url = part.file.file_data
    if not url:
        raise ConversionError(
            "content part type 'file' needs inline file_data (a base64 data: URL); file_id is not supported"
        )
    header, sep, data = url.partition(",")
    if not url.startswith("data:") or not sep or not header.endswith(";base64"):
        raise ConversionError("file_data must be a base64 data: URL (data:<media type>;base64,<data>)")
    media_type = header[len("data:") : -len(";base64")]
    source = Base64Source(type="base64", media_type=media_type, data=data)
    return DocumentBlock(type="document", source=source, title=part.file.filename)


def _user_blocks(content: str | list[ContentPart]) -> str | list[ContentBlock]:
    if isinstance(content, str):
        return content
    blocks: list[ContentBlock] = []
    for part in content:
        match part:
            case TextPart(text=text):
                blocks.append(TextBlock(type="text", text=text))
            case ImageURLPart():
                blocks.append(_image_block(part))
            case FilePart():
                blocks.append(_document_block(part))
            case RefusalPart() | OtherPart():
                raise ConversionError(f"content part type '{part.type}' is not supported in user messages")
            case _:  # pragma: no cover
                assert_never(part)
    return blocks


def _arguments(call: FunctionCall) -> dict[str, Any]:
    if not call.arguments.strip():
        return {}
    try:
        parsed = json.loads(call.arguments)
    except (ValueError, RecursionError) as exc:
        raise ConversionError(f"tool call '{call.name}' has arguments that are not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ConversionError(f"tool call '{call.name}' arguments must be a JSON object")
    if json_depth_exceeds(parsed, MAX_JSON_DEPTH):
        raise ConversionError(f"tool call '{call.name}' arguments nest deeper than {MAX_JSON_DEPTH} levels")
    return parsed


class _Builder:
    """Accumulates Anthropic messages; consecutive tool results share one user message."""

    def __init__(self) -> None:
        self.system: list[str] = []
        self.messages: list[Message] = []
        self._results: list[ContentBlock] = []
        self._legacy_calls = 0

    def _flush_results(self) -> None:
        if self._results:
            self.messages.append(Message(role="user", content=self._results))
            self._results = []

    def add(self, message: ChatMessage) -> None:
        match message:
            case SystemMessage() | DeveloperMessage():
                self.system.append(_text_of(message.content, message.role))
            case UserMessage(content=content):
                self._flush_results()
                self.messages.append(Message(role="user", content=_user_blocks(content)))
            case AssistantMessage():
                self._flush_results()
                self.messages.append(Message(role="assistant", content=self._assistant_blocks(message)))
            case ToolMessage(tool_call_id=call_id, content=content):
                text = _text_of(content, "tool")
                self._results.append(ToolResultBlock(type="tool_result", tool_use_id=call_id, content=text))
            case FunctionMessage(content=content):
                call_id = f"{_LEGACY_CALL_PREFIX}{self._legacy_calls}"
                self._results.append(
                    ToolResultBlock(type="tool_result", tool_use_id=call_id, content=content or "")
                )
            case _:  # pragma: no cover
                assert_never(message)

    def _assistant_blocks(self, message: AssistantMessage) -> list[ContentBlock]:
        blocks: list[ContentBlock] = []
        text = _text_of(message.content, "assistant")
        if text:
            blocks.append(TextBlock(type="text", text=text))
        for call in message.tool_calls or ():
            blocks.append(
                ToolUseBlock(
                    type="tool_use", id=call.id, name=call.function.name, input=_arguments(call.function)
                )
            )
        if message.function_call is not None:
            self._legacy_calls += 1
            blocks.append(
                ToolUseBlock(
                    type="tool_use",
                    id=f"{_LEGACY_CALL_PREFIX}{self._legacy_calls}",
                    name=message.function_call.name,
                    input=_arguments(message.function_call),
                )
            )
        return blocks

    def finish(self) -> list[Message]:
        self._flush_results()
        return self.messages


def _tools(req: ChatCompletionRequest) -> list[Tool] | None:
    tools: list[Tool] = []
    for tool in req.tools or ():
        if tool.type != "function" or tool.function is None:
            raise ConversionError(f"tool type '{tool.type}' is not supported: only function tools are")
        tools.append(_custom_tool(tool.function.name, tool.function.description, tool.function.parameters))
    for function in req.functions or ():
        tools.append(_custom_tool(function.name, function.description, function.parameters))
    return tools or None


def _custom_tool(name: str, description: str | None, parameters: dict[str, Any] | None) -> CustomTool:
    schema = parameters if parameters is not None else {"type": "object", "properties": {}}
    return CustomTool(name=name, description=description, input_schema=schema)


def _tool_choice(req: ChatCompletionRequest) -> ToolChoice | None:
    parallel_off = True if req.parallel_tool_calls is False else None
    choice = req.tool_choice
    if choice is None:
        return ToolChoiceAuto(type="auto", disable_parallel_tool_use=True) if parallel_off else None
    if isinstance(choice, NamedToolChoice):
        return ToolChoiceTool(type="tool", name=choice.function.name, disable_parallel_tool_use=parallel_off)
    if choice == "none":
        return ToolChoiceNone(type="none")
    if choice == "required":
        return ToolChoiceAny(type="any", disable_parallel_tool_use=parallel_off)
    return ToolChoiceAuto(type="auto", disable_parallel_tool_use=parallel_off)


def _format_instruction(response_format: ResponseFormat | None) -> str | None:
    match response_format:
        case None | ResponseFormatText():
            return None
        case ResponseFormatJsonObject():
            return JSON_OBJECT_INSTRUCTION
        case ResponseFormatJsonSchema(json_schema=spec):
            lines = [JSON_VALUE_INSTRUCTION]
            if spec.name:
                about = f": {spec.description}" if spec.description else "."
                lines.append(f"The JSON is a '{spec.name}'{about}")
            if spec.schema_ is not None:
                schema = json.dumps(spec.schema_, ensure_ascii=False, sort_keys=True)
                lines.append(f"It must match this JSON Schema:\n{schema}")
            return "\n".join(lines)
        case _:  # pragma: no cover
            assert_never(response_format)


def _thinking(effort: str | None) -> tuple[ThinkingConfig | None, OutputConfig | None]:
    if effort is None:
        return None, None
    if effort == "none":
        return ThinkingDisabled(type="disabled"), None
    mapped = _EFFORTS.get(effort)
    if mapped is None:
        raise ConversionError(
            f"reasoning_effort '{effort}' is not supported: use none, minimal, low, medium or high"
        )
    return ThinkingAdaptive(type="adaptive"), OutputConfig(effort=mapped)


def convert_openai_request(req: ChatCompletionRequest) -> MessagesRequest:
    """The Anthropic request equivalent to `req`; raises `ConversionError` (400) when impossible."""
    if req.n is not None and req.n != 1:
        raise ConversionError("only n=1 is supported")
    builder = _Builder()
    for message in req.messages:
        builder.add(message)
    messages = builder.finish()
    system = [text for text in builder.system if text]
    instruction = _format_instruction(req.response_format)
    if instruction is not None:
        system.append(instruction)
    if not messages:
        raise ConversionError("messages must contain at least one user or assistant message")
    thinking, output_config = _thinking(req.reasoning_effort)
    stop = [req.stop] if isinstance(req.stop, str) else req.stop
    return MessagesRequest(
        model=req.model,
        messages=messages,
        system="\n\n".join(system) or None,
        max_tokens=req.max_completion_tokens or req.max_tokens or DEFAULT_MAX_TOKENS,
        metadata=Metadata(user_id=req.user) if req.user else None,
        stop_sequences=stop or None,
        stream=bool(req.stream),
        temperature=req.temperature,
        top_p=req.top_p,
        tools=_tools(req),
        tool_choice=_tool_choice(req),
        thinking=thinking,
        output_config=output_config,
    )


__all__ = ["DEFAULT_MAX_TOKENS", "JSON_OBJECT_INSTRUCTION", "convert_openai_request"]
