"""The model map (CONTRACTS "Models", kiro-protocol.md §4.9)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kiroproto.errors import ConversionError
from kiroproto.models import ModelMap, ModelMapConfig, OfferedModel, ResolvedModel


# The pool offers the 2026 list (the default static list, as while no catalogue is known).
@pytest.mark.parametrize(
    ("name", "kiro_id", "thinking", "window", "one_m", "fallback"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4.5", False, 200_000, False, False),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5", False, 200_000, False, False),
        ("claude-sonnet-4-5-20250929-thinking", "claude-sonnet-4.5", True, 200_000, False, False),
        ("claude-sonnet-4-6", "claude-sonnet-4.6", False, 1_000_000, False, False),
        ("claude-sonnet-4.6", "claude-sonnet-4.6", False, 1_000_000, False, False),
        ("claude-opus-4-5-20251101", "claude-opus-4.5", False, 200_000, False, False),
        ("claude-opus-4-6", "claude-opus-4.6", False, 1_000_000, False, False),
        ("claude-opus-4-6[1m]", "claude-opus-4.6", False, 1_000_000, True, False),
        ("claude-opus-4-6-thinking[1m]", "claude-opus-4.6", True, 1_000_000, True, False),
        ("claude-opus-4-6[1M]-thinking", "claude-opus-4.6", True, 1_000_000, True, False),
        ("claude-sonnet-4-5[1m]", "claude-sonnet-4.5", False, 200_000, False, False),
        ("claude-haiku-4-5-20251001", "claude-haiku-4.5", False, 200_000, False, False),
        ("Claude-Haiku-4-5", "claude-haiku-4.5", False, 200_000, False, False),
        ("anthropic/claude-haiku-4.5", "claude-haiku-4.5", False, 200_000, False, False),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4.5", False, 200_000, False, False),
        # The 2026 models are served exactly (dashed, dotted and dated forms alike); never downgraded.
        ("claude-opus-4-7", "claude-opus-4.7", False, 1_000_000, False, False),
        ("claude-opus-4-8", "claude-opus-4.8", False, 1_000_000, False, False),
        ("claude-opus-4.8", "claude-opus-4.8", False, 1_000_000, False, False),
        ("claude-opus-4-8-20260529", "claude-opus-4.8", False, 1_000_000, False, False),
        ("claude-opus-5", "claude-opus-5", False, 1_000_000, False, False),
        ("claude-opus-5-5", "claude-opus-5.5", False, 1_000_000, False, False),
        ("claude-opus-5-5-thinking", "claude-opus-5.5", True, 1_000_000, False, False),
        ("claude-sonnet-5", "claude-sonnet-5", False, 1_000_000, False, False),
        ("claude-sonnet-5-20260301", "claude-sonnet-5", False, 1_000_000, False, False),
        ("claude-sonnet-4-20250514", "claude-sonnet-4", False, 200_000, False, False),
        # Not offered: the newest of the family, flagged (header and log).
        ("claude-opus-4-9", "claude-opus-5.5", False, 1_000_000, False, True),
        ("claude-sonnet-4-7-thinking", "claude-sonnet-5.5", True, 1_000_000, False, True),
        ("claude-3-5-sonnet-20241022", "claude-sonnet-5.5", False, 1_000_000, False, True),
        ("claude-3-opus-20240229", "claude-opus-5.5", False, 1_000_000, False, True),
        ("claude-3-5-haiku-latest", "claude-haiku-4.5", False, 200_000, False, True),
        # No version: the newest of the family.
        ("claude-opus", "claude-opus-5.5", False, 1_000_000, False, False),
        ("sonnet", "claude-sonnet-5.5", False, 1_000_000, False, False),
        # Unknown Claude families go to the default model.
        ("claude-fable-5-2", "claude-sonnet-4.5", False, 200_000, False, True),
        ("claude-fable-5-2-thinking", "claude-sonnet-4.5", True, 200_000, False, True),
        ("  claude-haiku-4.5 ", "claude-haiku-4.5", False, 200_000, False, False),
    ],
)
def test_default_map(
    name: str, kiro_id: str, thinking: bool, window: int, one_m: bool, fallback: bool
) -> None:
    assert ModelMap().resolve(name) == ResolvedModel(
        requested=name,
        kiro_id=kiro_id,
        thinking_forced=thinking,
        context_window=window,
        one_m=one_m,
        fallback=fallback,
    )


def _pool(*models: tuple[str, int | None], complete: bool = True) -> ModelMap:
    return ModelMap().with_pool([OfferedModel(m, w) for m, w in models], catalogue_complete=complete)


def test_resolution_follows_the_pool_catalogue() -> None:
    pool = _pool(("claude-opus-4.6", 1_000_000), ("claude-opus-4.8", 272_000), ("claude-sonnet-4.5", None))
    exact = pool.resolve("claude-opus-4-8")
    assert (exact.kiro_id, exact.fallback, exact.context_window) == ("claude-opus-4.8", False, 272_000)
    # Offered by no account: the newest opus the pool offers, flagged.
    substitute = pool.resolve("claude-opus-5-5")
    assert (substitute.kiro_id, substitute.fallback) == ("claude-opus-4.8", True)
    assert substitute.fallback_header == "claude-opus-5-5 -> claude-opus-4.8"
    assert pool.resolve("claude-sonnet-5").kiro_id == "claude-sonnet-4.5"
    # No haiku in the pool: the operator's default model, flagged.
    haiku = pool.resolve("claude-haiku-4-5")
    assert (haiku.kiro_id, haiku.fallback) == ("claude-sonnet-4.5", True)
    # A catalogue without a window: the static default (200K before 4.6).
    assert pool.resolve("claude-sonnet-4-5").context_window == 200_000
    assert pool.offered == ("claude-opus-4.6", "claude-opus-4.8", "claude-sonnet-4.5")


def test_unknown_catalogues_count_the_static_list() -> None:
    partial = _pool(("claude-opus-4.6", 1_000_000), complete=False)
    assert partial.resolve("claude-opus-5-5").kiro_id == "claude-opus-5.5"
    assert partial.resolve("claude-opus-5-5").fallback is False
    empty = ModelMap().with_pool([], catalogue_complete=True)
    assert empty.resolve("claude-opus-4-8").kiro_id == "claude-opus-4.8"


@pytest.mark.parametrize("name", ["auto", "gpt-5.6", "glm-5"])
def test_non_claude_catalogue_ids_need_the_operator_map(name: str) -> None:
    pool = _pool(("auto", None), ("gpt-5.6", None), ("glm-5", None), ("claude-sonnet-4.5", None))
    with pytest.raises(ConversionError, match="is not supported"):
        pool.resolve(name)
    mapped = ModelMap(ModelMapConfig(aliases={name: name})).with_pool([], catalogue_complete=False)
    assert mapped.resolve(name).kiro_id == name


@pytest.mark.parametrize("name", ["gpt-4o", "o3-mini", "gemini-2.5-pro", "", "deepseek-3.2"])
def test_non_claude_names_are_a_400(name: str) -> None:
    with pytest.raises(ConversionError, match="is not supported") as info:
        ModelMap().resolve(name)
    assert info.value.status_hint == 400
    assert info.value.error_type == "invalid_request_error"


def test_operator_aliases_globs_and_windows() -> None:
    config = ModelMapConfig.model_validate(
        {
            "aliases": {
                "gpt-4o": "claude-sonnet-4.6",
                "GPT-4*": "claude-haiku-4.5",
                "my-opus-thinking": "claude-opus-4.5",
                "deepseek-*": "deepseek-3.2",
                "claude-sonnet-4-5-20250929": "claude-sonnet-4.6",
            },
            "context_windows": {"claude-sonnet-4.6": 500_000, "deepseek-3.2": 128_000},
            "default_model": "claude-haiku-4.5",
        }
    )
    models = ModelMap(config)
    assert models.resolve("gpt-4o").kiro_id == "claude-sonnet-4.6"
    assert models.resolve("gpt-4o").context_window == 500_000
    assert models.resolve("gpt-4-turbo").kiro_id == "claude-haiku-4.5"
    assert models.resolve("GPT-4o-mini").kiro_id == "claude-haiku-4.5"
    # The exact full name is tried before the name without its suffixes.
    assert models.resolve("my-opus-thinking") == ResolvedModel(
        "my-opus-thinking", "claude-opus-4.5", True, 200_000, False, False
    )
    assert models.resolve("deepseek-chat").kiro_id == "deepseek-3.2"
    assert models.resolve("deepseek-chat").context_window == 128_000
    assert models.resolve("claude-sonnet-4-5-20250929-thinking").kiro_id == "claude-sonnet-4.6"
    assert models.resolve("claude-fable-5-2").kiro_id == "claude-haiku-4.5"
    assert models.default_model == "claude-haiku-4.5"
    assert models.config is config


def test_configured_models_drive_family_fallback() -> None:
    models = ModelMap(
        ModelMapConfig(
            models=("claude-opus-4.5", "claude-opus-4.7", "claude-sonnet-4.5"),
            context_windows={"claude-opus-4.7": 500_000},
        )
    )
    assert models.resolve("claude-opus-4-7").kiro_id == "claude-opus-4.7"
    assert models.resolve("claude-opus-4-7").fallback is False
    assert models.resolve("claude-opus-4-6") == ResolvedModel(
        "claude-opus-4-6", "claude-opus-4.7", False, 500_000, False, True
    )
    assert models.resolve("claude-opus-4-9").kiro_id == "claude-opus-4.7"
    # No haiku configured: the default model, flagged.
    assert models.resolve("claude-haiku-4-5").kiro_id == "claude-sonnet-4.5"
    assert models.resolve("claude-haiku-4-5").fallback is True
    # A removed Kiro id is no longer passed through, but its family still resolves.
    assert models.resolve("claude-sonnet-4.6").kiro_id == "claude-sonnet-4.5"
    # The live catalogue's window wins over the operator's.
    live = models.with_pool([OfferedModel("claude-opus-4.7", 1_000_000)], catalogue_complete=True)
    assert live.resolve("claude-opus-4-7").context_window == 1_000_000


def test_config_is_strict_and_frozen() -> None:
    with pytest.raises(ValidationError):
        ModelMapConfig.model_validate({"alias": {}})
    with pytest.raises(ValidationError):
        ModelMapConfig().default_model = "x"  # type: ignore[misc]


def test_list_models_default() -> None:
    listed = ModelMap().list_models()
    assert [m.id for m in listed] == [
        "claude-opus-5-5",
        "claude-opus-5",
        "claude-opus-4-8",
        "claude-opus-4-7",
        "claude-opus-4-6",
        "claude-opus-4-5",
        "claude-sonnet-5-5",
        "claude-sonnet-5",
        "claude-sonnet-4-6",
        "claude-sonnet-4-5",
        "claude-sonnet-4",
        "claude-haiku-4-5",
    ]
    opus = next(m for m in listed if m.id == "claude-opus-4-6")
    assert (opus.display_name, opus.context_window, opus.kiro_id, opus.thinking) == (
        "Claude Opus 4.6",
        1_000_000,
        "claude-opus-4.6",
        False,
    )
    sonnet = next(m for m in listed if m.id == "claude-sonnet-4-5")
    assert (sonnet.created, sonnet.context_window, sonnet.display_name) == (
        1759104000,
        200_000,
        "Claude Sonnet 4.5",
    )
    assert next(m for m in listed if m.id == "claude-sonnet-5").display_name == "Claude Sonnet 5"
    # Every listed id resolves back to its Kiro id, exactly.
    models = ModelMap()
    for entry in listed:
        resolved = models.resolve(entry.id)
        assert (resolved.kiro_id, resolved.thinking_forced, resolved.fallback) == (
            entry.kiro_id,
            False,
            False,
        )


def test_list_models_follows_the_pool() -> None:
    pool = _pool(("claude-haiku-4.5", None), ("claude-opus-4.8", 272_000), ("auto", None), ("gpt-5.6", None))
    listed = pool.list_models()
    assert [(m.id, m.display_name, m.context_window) for m in listed] == [
        ("claude-opus-4-8", "Claude Opus 4.8", 272_000),
        ("claude-haiku-4-5", "Claude Haiku 4.5", 200_000),
    ]
