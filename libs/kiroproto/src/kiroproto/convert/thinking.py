"""Extended thinking, request side (kiro-protocol.md §4.11).

Kiro's classic body has no thinking parameter; thinking is switched on by tags at the very
start of the system text:

- `thinking: {type: enabled, budget_tokens: B}` ->
  `<thinking_mode>enabled</thinking_mode><max_thinking_length>B</max_thinking_length>`,
  B clamped to [1024, 24576] (AIClient-2-API's minimum, kiro.rs's cap);
- `thinking: {type: adaptive}` with `output_config.effort` ->
  `<thinking_mode>adaptive</thinking_mode><thinking_effort>E</thinking_effort>`, E in
  low/medium/high (`max` is sent as `high`; no effort means `high`, Anthropic's default);
- a `-thinking` model name forces thinking on even when the request says `disabled`:
  enabled with 20 000 unless the request gives its own settings, adaptive/high for opus 4.6.

The prefix is not added when the system text already carries `<thinking_mode>` or
`<max_thinking_length>`. This module does not extract thinking from the response (§7.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, assert_never

from kiroproto.anthropic.request import (
    OutputConfig,
    ThinkingAdaptive,
    ThinkingConfig,
    ThinkingDisabled,
    ThinkingEnabled,
)
from kiroproto.models import ResolvedModel

MIN_BUDGET = 1024
MAX_BUDGET = 24_576
FORCED_BUDGET = 20_000
_ADAPTIVE_BY_DEFAULT = frozenset({"claude-opus-4.6"})
_EXISTING_MARKERS = ("<thinking_mode>", "<max_thinking_length>")

KiroEffort = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class EnabledThinking:
    budget: int  # sent as <max_thinking_length>


@dataclass(frozen=True, slots=True)
class AdaptiveThinking:
    effort: KiroEffort


ThinkingMode = EnabledThinking | AdaptiveThinking


def _effort(output_config: OutputConfig | None) -> KiroEffort:
    effort = output_config.effort if output_config is not None else None
    if effort == "low" or effort == "medium":
        return effort
    return "high"  # "high", "max" (no classic equivalent) and absent


def thinking_mode(
    thinking: ThinkingConfig | None, output_config: OutputConfig | None, model: ResolvedModel
) -> ThinkingMode | None:
    """The thinking the request asks for, or None."""
    match thinking:
        case ThinkingEnabled(budget_tokens=budget):
            return EnabledThinking(min(max(budget, MIN_BUDGET), MAX_BUDGET))
        case ThinkingAdaptive():
            return AdaptiveThinking(_effort(output_config))
        case ThinkingDisabled() | None:
            if not model.thinking_forced:
                return None
            if model.kiro_id in _ADAPTIVE_BY_DEFAULT:
                return AdaptiveThinking(_effort(output_config))
            return EnabledThinking(FORCED_BUDGET)
        case _:  # pragma: no cover
            assert_never(thinking)


def thinking_prefix(mode: ThinkingMode) -> str:
    match mode:
        case EnabledThinking(budget=budget):
            return (
                f"<thinking_mode>enabled</thinking_mode><max_thinking_length>{budget}</max_thinking_length>"
            )
        case AdaptiveThinking(effort=effort):
            return f"<thinking_mode>adaptive</thinking_mode><thinking_effort>{effort}</thinking_effort>"
        case _:  # pragma: no cover
            assert_never(mode)


def has_thinking_tags(system_text: str) -> bool:
    return any(marker in system_text for marker in _EXISTING_MARKERS)


__all__ = [
    "FORCED_BUDGET",
    "MAX_BUDGET",
    "MIN_BUDGET",
    "AdaptiveThinking",
    "EnabledThinking",
    "ThinkingMode",
    "has_thinking_tags",
    "thinking_mode",
    "thinking_prefix",
]
