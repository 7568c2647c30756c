"""Model resolution: client model names -> Kiro `modelId`, against the pool's live catalogue
(CONTRACTS.md "Models", kiro-protocol.md §4.9, §11.1, §19.4).

`ModelMap(config).with_pool(pool)` is the resolver for what the pool offers now (the union of
the accounts' `ListAvailableModels`, kept by the broker). `resolve(name)` gives a
`ResolvedModel`, in this order:

1. a `[1m]` suffix (asks for the 1M window) and a `-thinking` suffix (forces thinking) are
   stripped from the name, in either order;
2. the operator's map (`aliases`: exact name, then `fnmatch` globs, case-insensitive; the full
   name is tried before the stripped one) names a Kiro id, used as given;
3. a Claude name (`claude-…`, or a name with `opus` / `sonnet` / `haiku`) is the exact model the
   pool offers in any of its forms: dashed, dotted and dated are the same model
   (`claude-opus-4-8`, `claude-opus-4.8`, `claude-opus-4-8-20260529` -> `claude-opus-4.8`;
   `claude-sonnet-5` -> `claude-sonnet-5`); a family name without a version is the newest of it;
4. else the newest model of the same family the pool offers (`fallback`: the service answers
   with `x-kiro2api-model-fallback` and logs it once per name);
5. else, for any other Claude name, the operator's default model (`fallback` too);
6. anything else (`auto`, GPT, GLM, …) is a `ConversionError` (400) unless the operator maps it.

While the pool's catalogue is not known (no account fetched yet, or some accounts unknown, which
are eligible for every model), `config.models` (the 2026 list by default) counts as offered.
Context windows: the pool's catalogue, else the operator's `context_windows`, else the static
default (1,000,000 for Claude 4.6 and newer, 200,000 otherwise); the gateway replaces it with the
serving account's own window once a lease names it (`LeaseGrant.model_info`).

`list_models()` gives the entries for `GET /v1/models`: one per Claude model the pool offers,
in the dashed Anthropic form. This module does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from kiroproto.errors import ConversionError

DEFAULT_KIRO_MODELS: tuple[str, ...] = (
    "claude-opus-4.5",
    "claude-opus-4.6",
    "claude-opus-4.7",
    "claude-opus-4.8",
    "claude-opus-5",
    "claude-opus-5.5",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-sonnet-4.6",
    "claude-sonnet-5",
    "claude-sonnet-5.5",
    "claude-haiku-4.5",
)
"""Kiro ids assumed offered while the pool's catalogue is unknown (the 2026 list, §19.4)."""

DEFAULT_CONTEXT_WINDOW = 200_000
LARGE_CONTEXT_WINDOW = 1_000_000  # Claude 4.6 and newer (Kiro, 2026-03-24; §19.4)
_LARGE_FROM: tuple[int, int] = (4, 6)

_FAMILIES = ("opus", "sonnet", "haiku")
_KIRO_ID_RE = re.compile(r"^claude-(opus|sonnet|haiku)-(\d+)(?:\.(\d+))?$")
# A version right after the family word: "-4-5-20250929" -> (4, 5); "-4-20250514" -> (4, None).
_VERSION_AFTER_RE = re.compile(r"^[-_.\s]*(\d{1,2})(?:[-._](\d{1,2}))?(?!\d)")
# A version right before it (older naming, "claude-3-5-sonnet"): "claude-3-5-" -> (3, 5).
_VERSION_BEFORE_RE = re.compile(r"(?<!\d)(\d{1,2})(?:[-._](\d{1,2}))?[-_.\s]*$")
_ONE_M_SUFFIX = "[1m]"
_THINKING_SUFFIX = "-thinking"
FALLBACK_HEADER = "x-kiro2api-model-fallback"


class ModelMapConfig(BaseModel):
    """Operator configuration (already parsed from JSON by the service)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aliases: dict[str, str] = Field(default_factory=dict)
    """Exact client name or glob (`gpt-4*`) -> Kiro id. Matched case-insensitively."""
    context_windows: dict[str, int] = Field(default_factory=dict)
    """Kiro id -> context window in tokens (the live catalogue wins where both exist)."""
    default_model: str = "claude-sonnet-4.5"
    """Where other `claude-*` names go (`KIRO_DEFAULT_MODEL`)."""
    models: tuple[str, ...] = DEFAULT_KIRO_MODELS
    """Kiro ids counted as offered while the pool's catalogue is not known."""


@dataclass(frozen=True, slots=True)
class OfferedModel:
    """One model the pool offers (the union of the accounts' catalogues)."""

    id: str
    context_window: int | None = None


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
    """The exact model asked for is not offered; `kiro_id` is a substitute (header and log)."""

    @property
    def fallback_header(self) -> str:
        """The value of `x-kiro2api-model-fallback`: `<requested> -> <served>`."""
        return f"{self.requested} -> {self.kiro_id}"


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


# Release days (Unix seconds) of the models whose dates are public; others list 0.
_CREATED: Mapping[str, int] = {
    "claude-opus-4.6": 1770249600,  # 2026-02-05
    "claude-sonnet-4.6": 1771286400,  # 2026-02-17
    "claude-opus-4.5": 1761955200,  # 2025-11-01
    "claude-sonnet-4.5": 1759104000,  # 2025-09-29
    "claude-haiku-4.5": 1759276800,  # 2025-10-01
    "claude-sonnet-4": 1747180800,  # 2025-05-14
}


def family_version(kiro_id: str) -> tuple[str, tuple[int, int]] | None:
    """`claude-opus-4.8` -> ("opus", (4, 8)); `claude-sonnet-5` -> ("sonnet", (5, 0))."""
    match = _KIRO_ID_RE.match(kiro_id.lower())
    if match is None:
        return None
    return match.group(1), (int(match.group(2)), int(match.group(3) or 0))


def dashed_id(kiro_id: str) -> str:
    """The Anthropic form of a Kiro id: `claude-opus-4.8` -> `claude-opus-4-8`."""
    return kiro_id.replace(".", "-")


def static_context_window(kiro_id: str) -> int:
    parsed = family_version(kiro_id)
    if parsed is not None and parsed[1] >= _LARGE_FROM:
        return LARGE_CONTEXT_WINDOW
    return DEFAULT_CONTEXT_WINDOW


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
    """Resolves client model names against what the pool offers; immutable once built."""

    def __init__(
        self, config: ModelMapConfig | None = None, offered: Iterable[OfferedModel] | None = None
    ) -> None:
        self._config = config or ModelMapConfig()
        self._aliases: Mapping[str, str] = {k.lower(): v for k, v in self._config.aliases.items()}
        if offered is None:
            offered = [OfferedModel(m) for m in self._config.models]
        self._offered: dict[str, OfferedModel] = {}
        for model in offered:
            known = self._offered.get(model.id)
            if known is None or (model.context_window or 0) > (known.context_window or 0):
                self._offered[model.id] = model
        self._families: dict[str, list[tuple[tuple[int, int], str]]] = {f: [] for f in _FAMILIES}
        for kiro_id in self._offered:
            parsed = family_version(kiro_id)
            if parsed is not None:
                self._families[parsed[0]].append((parsed[1], kiro_id))
        for versions in self._families.values():
            versions.sort()

    def with_pool(self, models: Iterable[OfferedModel], *, catalogue_complete: bool) -> ModelMap:
        """The resolver for what the pool offers now. When some account's catalogue is unknown
        (it is eligible for every model), the configured static list counts as offered too."""
        offered = list(models)
        if not catalogue_complete or not offered:
            offered += [OfferedModel(m) for m in self._config.models]
        return ModelMap(self._config, offered)

    @property
    def config(self) -> ModelMapConfig:
        return self._config

    @property
    def default_model(self) -> str:
        return self._config.default_model

    @property
    def offered(self) -> tuple[str, ...]:
        return tuple(sorted(self._offered))

    def context_window(self, kiro_id: str) -> int:
        live = self._offered.get(kiro_id)
        if live is not None and live.context_window:
            return live.context_window
        configured = self._config.context_windows.get(kiro_id)
        if configured is not None:
            return configured
        return static_context_window(kiro_id)

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
        # Provider-prefixed names ("anthropic/claude-...", "us.anthropic.claude-...") too.
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
        offered = self._families[family]
        if not offered:
            return self._config.default_model, True
        if version is None:
            return offered[-1][1], False
        for candidate, kiro_id in offered:
            if candidate == version:
                return kiro_id, False
        return offered[-1][1], True

    def list_models(self) -> tuple[ModelInfo, ...]:
        """Entries for `GET /v1/models`: every Claude model the pool offers, newest first."""
        entries = sorted(
            (
                (parsed, kiro_id)
                for kiro_id in self._offered
                if (parsed := family_version(kiro_id)) is not None
            ),
            key=lambda item: (_FAMILIES.index(item[0][0]), tuple(-v for v in item[0][1])),
        )
        infos: list[ModelInfo] = []
        for (family, (major, minor)), kiro_id in entries:
            version = f"{major}.{minor}" if "." in kiro_id else str(major)
            infos.append(
                ModelInfo(
                    id=dashed_id(kiro_id),
                    display_name=f"Claude {family.capitalize()} {version}",
                    created=_CREATED.get(kiro_id, 0),
                    context_window=self.context_window(kiro_id),
                    kiro_id=kiro_id,
                    thinking=False,
                )
            )
        return tuple(infos)


__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_KIRO_MODELS",
    "FALLBACK_HEADER",
    "LARGE_CONTEXT_WINDOW",
    "ModelInfo",
    "ModelMap",
    "ModelMapConfig",
    "OfferedModel",
    "ResolvedModel",
    "dashed_id",
    "family_version",
    "static_context_window",
]
