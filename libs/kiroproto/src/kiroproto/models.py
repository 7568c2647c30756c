"""The model map: client model names -> Kiro `modelId` (kiro-protocol.md §4.9, CONTRACTS "Models").

`ModelMap(config).resolve(name)` turns whatever a client sends (`claude-sonnet-4-5-20250929`,
`claude-opus-4-6[1m]`, `claude-haiku-4-5-thinking`, a Kiro id such as `claude-sonnet-4.5` or
`auto`, or an operator alias) into a `ResolvedModel`. The order of the rules:

1. a `[1m]` suffix (asks for the 1M window) and a `-thinking` suffix (forces thinking) are
   stripped from the name, in either order;
2. operator aliases (exact name, then `fnmatch` globs, case-insensitive; the full name is tried
   before the stripped one) map to a Kiro id, which is used as given;
3. a configured Kiro id (or `auto`) is passed through;
4. a name containing `opus` / `sonnet` / `haiku` maps to that family: the configured version
   equal to the requested one, else the smallest newer configured one, else the newest
   (`claude-opus-4-7` -> the newest opus); a name without a version gets the newest;
5. any other `claude*` name goes to the operator's default model;
6. anything else is a `ConversionError` (400).

`ResolvedModel.fallback` is true when the exact model asked for is not configured and a
substitute was chosen (rules 4 and 5), so the service can log that once per name.

`list_models()` gives the entries for `GET /v1/models`; the gateway renders the list shape.
This module does no I/O: the service parses the operator's JSON into `ModelMapConfig`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from kiroproto.errors import ConversionError

DEFAULT_KIRO_MODELS: tuple[str, ...] = (
    "claude-opus-4.5",
    "claude-opus-4.6",
    "claude-sonnet-4.5",
    "claude-sonnet-4.6",
    "claude-haiku-4.5",
)
"""Kiro ids served by default (the simulator's default list, CONTRACTS "Models")."""

PASSTHROUGH_IDS: frozenset[str] = frozenset({"auto"})
"""Kiro ids accepted as-is although they belong to no family (§4.9: `auto`, the server picks)."""

DEFAULT_CONTEXT_WINDOW = 200_000
LARGE_CONTEXT_WINDOW = 1_000_000  # 4.6 models (§4.9, kiro.rs since 2026-03)
_LARGE_WINDOW_VERSIONS: frozenset[tuple[int, int]] = frozenset({(4, 6)})

_FAMILIES = ("opus", "sonnet", "haiku")
_KIRO_ID_RE = re.compile(r"^claude-(opus|sonnet|haiku)-(\d+)(?:\.(\d+))?$")
# A version right after the family word: "-4-5-20250929" -> (4, 5); "-4-20250514" -> (4, None).
_VERSION_AFTER_RE = re.compile(r"^[-_.\s]*(\d{1,2})(?:[-._](\d{1,2}))?(?!\d)")
# A version right before it (older naming, "claude-3-5-sonnet"): "claude-3-5-" -> (3, 5).
_VERSION_BEFORE_RE = re.compile(r"(?<!\d)(\d{1,2})(?:[-._](\d{1,2}))?[-_.\s]*$")
_ONE_M_SUFFIX = "[1m]"
_THINKING_SUFFIX = "-thinking"


class ModelMapConfig(BaseModel):
    """Operator configuration (already parsed from JSON by the service)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aliases: dict[str, str] = Field(default_factory=dict)
    """Exact client name or glob (`gpt-4*`) -> Kiro id. Matched case-insensitively."""
    context_windows: dict[str, int] = Field(default_factory=dict)
    """Kiro id -> context window in tokens; overrides the defaults."""
    default_model: str = "claude-sonnet-4.5"
    """Where unknown `claude-*` names go."""
    models: tuple[str, ...] = DEFAULT_KIRO_MODELS
    """The Kiro ids the accounts serve; family fallback picks among these."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    requested: str
    """The name the client sent, unchanged."""
    kiro_id: str
    thinking_forced: bool
    """The name asked for thinking (`-thinking` suffix)."""
    context_window: int
    one_m: bool
    """The client asked for the 1M window (`[1m]`) and the model has it."""
    fallback: bool = False
    """The exact model asked for is not configured; `kiro_id` is a substitute."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of `GET /v1/models` (the gateway adds `type`, `object`, `owned_by`, ...)."""

    id: str
    display_name: str
    created: int
    """Unix seconds."""
    context_window: int
    kiro_id: str
    thinking: bool


@dataclass(frozen=True, slots=True)
class _CatalogEntry:
    id: str
    kiro_id: str
    display_name: str
    created: int


# §11.2: the Anthropic-style ids kiro.rs lists. `created` is the date in the id, or the release day.
_CATALOG: tuple[_CatalogEntry, ...] = (
    _CatalogEntry("claude-opus-4-6", "claude-opus-4.6", "Claude Opus 4.6", 1770249600),  # 2026-02-05
    _CatalogEntry("claude-sonnet-4-6", "claude-sonnet-4.6", "Claude Sonnet 4.6", 1771286400),  # 2026-02-17
    _CatalogEntry("claude-opus-4-5-20251101", "claude-opus-4.5", "Claude Opus 4.5", 1761955200),
    _CatalogEntry("claude-sonnet-4-5-20250929", "claude-sonnet-4.5", "Claude Sonnet 4.5", 1759104000),
    _CatalogEntry("claude-haiku-4-5-20251001", "claude-haiku-4.5", "Claude Haiku 4.5", 1759276800),
)
_UNKNOWN_CREATED = 0


def _family_version(kiro_id: str) -> tuple[str, tuple[int, int]] | None:
    match = _KIRO_ID_RE.match(kiro_id)
    if match is None:
        return None
    return match.group(1), (int(match.group(2)), int(match.group(3) or 0))


def _requested_version(name: str, family: str) -> tuple[int, int] | None:
    """The version a client name asks for, looked for after the family word, then before it."""
    start = name.index(family)
    match = _VERSION_AFTER_RE.match(name[start + len(family) :])
    if match is None:
        match = _VERSION_BEFORE_RE.search(name[:start])
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def _strip_suffixes(name: str) -> tuple[str, bool, bool]:
    """(base name, thinking suffix seen, [1m] suffix seen); the suffixes may come in any order."""
    base, thinking, one_m = name.strip(), False, False
    while True:
        lowered = base.lower()
        if lowered.endswith(_ONE_M_SUFFIX):
            base, one_m = base[: -len(_ONE_M_SUFFIX)].rstrip(), True
        elif lowered.endswith(_THINKING_SUFFIX):
            base, thinking = base[: -len(_THINKING_SUFFIX)], True
        else:
            return base, thinking, one_m


class ModelMap:
    """Resolves client model names; immutable once built."""

    def __init__(self, config: ModelMapConfig | None = None) -> None:
        self._config = config or ModelMapConfig()
        self._aliases: Mapping[str, str] = {k.lower(): v for k, v in self._config.aliases.items()}
        self._known: dict[str, str] = {m.lower(): m for m in self._config.models}
        for kiro_id in PASSTHROUGH_IDS:
            self._known.setdefault(kiro_id, kiro_id)
        self._families: dict[str, list[tuple[tuple[int, int], str]]] = {f: [] for f in _FAMILIES}
        for kiro_id in self._config.models:
            parsed = _family_version(kiro_id)
            if parsed is not None:
                self._families[parsed[0]].append((parsed[1], kiro_id))
        for versions in self._families.values():
            versions.sort()

    @property
    def config(self) -> ModelMapConfig:
        return self._config

    @property
    def default_model(self) -> str:
        return self._config.default_model

    def context_window(self, kiro_id: str) -> int:
        configured = self._config.context_windows.get(kiro_id)
        if configured is not None:
            return configured
        parsed = _family_version(kiro_id)
        if parsed is not None and parsed[1] in _LARGE_WINDOW_VERSIONS:
            return LARGE_CONTEXT_WINDOW
        return DEFAULT_CONTEXT_WINDOW

    def resolve(self, name: str) -> ResolvedModel:
        """Map a client model name to a Kiro id; raises `ConversionError` (400) if impossible."""
        base, thinking, one_m = _strip_suffixes(name)
        kiro_id, fallback = self._lookup(name.strip(), base)
        window = self.context_window(kiro_id)
        return ResolvedModel(
            requested=name,
            kiro_id=kiro_id,
            thinking_forced=thinking,
            context_window=window,
            one_m=one_m and window >= LARGE_CONTEXT_WINDOW,
            fallback=fallback,
        )

    def _lookup(self, full: str, base: str) -> tuple[str, bool]:
        candidates = [c.lower() for c in dict.fromkeys((full, base)) if c]
        for candidate in candidates:
            if candidate in self._aliases:
                return self._aliases[candidate], False
        for candidate in candidates:
            for pattern, target in self._aliases.items():
                if fnmatchcase(candidate, pattern):
                    return target, False
        lowered = base.lower()
        if lowered in self._known:
            return self._known[lowered], False
        # Provider-prefixed names ("anthropic/claude-...", "anthropic.claude-...") are families too.
        for family in _FAMILIES:
            if family in lowered:
                return self._by_family(family, _requested_version(lowered, family))
        if "claude" in lowered:
            return self._config.default_model, True
        raise ConversionError(
            f"model '{full}' is not supported: use a Claude model name (for example "
            f"'claude-sonnet-4-5') or ask the operator to map it"
        )

    def _by_family(self, family: str, version: tuple[int, int] | None) -> tuple[str, bool]:
        configured = self._families[family]
        if not configured:
            return self._config.default_model, True
        if version is None:
            return configured[-1][1], False
        for candidate, kiro_id in configured:
            if candidate >= version:
                return kiro_id, candidate != version
        return configured[-1][1], True

    def list_models(self) -> tuple[ModelInfo, ...]:
        """Entries for `GET /v1/models`: every configured Claude model and its `-thinking` twin."""
        entries: list[_CatalogEntry] = [e for e in _CATALOG if e.kiro_id in self._config.models]
        listed = {e.kiro_id for e in entries}
        for kiro_id in self._config.models:
            parsed = _family_version(kiro_id)
            if parsed is None or kiro_id in listed:
                continue
            family, (major, minor) = parsed
            entries.append(
                _CatalogEntry(
                    id=f"claude-{family}-{major}-{minor}",
                    kiro_id=kiro_id,
                    display_name=f"Claude {family.capitalize()} {major}.{minor}",
                    created=_UNKNOWN_CREATED,
                )
            )
        infos: list[ModelInfo] = []
        for entry in entries:
            window = self.context_window(entry.kiro_id)
            infos.append(ModelInfo(entry.id, entry.display_name, entry.created, window, entry.kiro_id, False))
            infos.append(
                ModelInfo(
                    f"{entry.id}{_THINKING_SUFFIX}",
                    f"{entry.display_name} (Thinking)",
                    entry.created,
                    window,
                    entry.kiro_id,
                    True,
                )
            )
        return tuple(infos)


__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_KIRO_MODELS",
    "LARGE_CONTEXT_WINDOW",
    "ModelInfo",
    "ModelMap",
    "ModelMapConfig",
    "ResolvedModel",
]
