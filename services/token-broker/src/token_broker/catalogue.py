"""The live model catalogue of every account (`ListAvailableModels`, reference §11.1, §19.4).

Fetched (all pages) when an account is added, on start, every `BROKER_CATALOGUE_INTERVAL`
(`jobs.py`) and after an `INVALID_MODEL_ID`; kept per account in Redis (`catalogue:{id}`: the
fetch time and one `CatalogueModel` JSON per Kiro model id). A lease for a model goes only to
accounts whose catalogue lists it, or whose catalogue is not known yet (never fetched, or every
fetch failed); the acquire script reads these hashes (its eligibility step).

An account that answers `INVALID_MODEL_ID` for a model is marked lacking it (`lacks:{id}`)
until its next full refresh (start, periodic, add): the refresh that the answer itself
triggers keeps the mark, so the account is asked at most once per catalogue refresh even when
its catalogue keeps listing the model.

`pool_models()` is the union the gateways resolve client model names against (bus endpoint
`pool_models`); a change of an account's catalogue (models or windows) is published on
`events_catalogue`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import orjson
from pydantic import ValidationError

from kiroproto.bus import CatalogueModel, PoolModels
from token_broker.errors import TokenBrokerError
from token_broker.events import EventPublisher
from token_broker.kiro_api import fetch_models
from token_broker.records import in_rotation, now_ms
from token_broker.refresh import Refresher
from token_broker.store import CredentialStore
from token_broker.tasks import OncePerCredential, TaskSet

log = logging.getLogger(__name__)

FETCHED_FIELD = "_fetched_ms"


def parse_model(entry: dict[str, Any]) -> CatalogueModel | None:
    """One `models[]` entry of `ListAvailableModels` (None when it names no model)."""
    model_id = entry.get("modelId")
    if not isinstance(model_id, str) or not model_id.strip():
        return None
    limits = entry.get("tokenLimits")
    limits = limits if isinstance(limits, dict) else {}
    caching = entry.get("promptCaching")
    if isinstance(caching, dict):
        caching = caching.get("supported", caching.get("enabled", True))
    if not isinstance(caching, bool):
        caching = entry.get("supportsPromptCache")
    schema = entry.get("additionalModelRequestFieldsSchema")
    if isinstance(schema, str):
        try:
            schema = orjson.loads(schema)
        except orjson.JSONDecodeError:
            schema = None
    rate = entry.get("rateMultiplier")
    return CatalogueModel(
        id=model_id.strip(),
        context_window=_positive(limits.get("maxInputTokens")),
        max_output_tokens=_positive(limits.get("maxOutputTokens")),
        rate_multiplier=float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None,
        prompt_caching=caching if isinstance(caching, bool) else None,
        request_fields_schema=schema if isinstance(schema, dict) else None,
    )


def _positive(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return None


class Catalogues:
    def __init__(
        self, *, store: CredentialStore, refresher: Refresher, events: EventPublisher, tasks: TaskSet
    ) -> None:
        self._redis = store.redis
        self._keys = store.keys
        self._store = store
        self._refresher = refresher
        self._events = events
        self._later = OncePerCredential(tasks, "catalogue fetch", (TokenBrokerError,))

    # ---- reads
    async def entry(self, cid: str, model: str) -> CatalogueModel | None:
        raw = await self._redis.hget(self._keys.catalogue(cid), model)
        return _model(raw)

    async def read_many(self, ids: list[str]) -> dict[str, tuple[tuple[CatalogueModel, ...], int | None]]:
        if not ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self._keys.catalogue(cid))
            rows: list[dict[str, str]] = await pipe.execute()
        out: dict[str, tuple[tuple[CatalogueModel, ...], int | None]] = {}
        for cid, row in zip(ids, rows, strict=True):
            fetched = row.pop(FETCHED_FIELD, None) if row else None
            models = tuple(m for m in (_model(v) for _, v in sorted(row.items())) if m is not None)
            out[cid] = (models, int(fetched) if fetched else None)
        return out

    async def pool_models(self) -> PoolModels:
        serving = [s.id for s in await self._store.states() if in_rotation(s)]
        catalogues = await self.read_many(serving)
        union: dict[str, CatalogueModel] = {}
        unknown = 0
        for cid in serving:
            models, fetched = catalogues.get(cid, ((), None))
            if fetched is None:
                unknown += 1
                continue
            for model in models:
                known = union.get(model.id)
                if known is None or (model.context_window or 0) > (known.context_window or 0):
                    union[model.id] = model
        return PoolModels(
            models=tuple(union[k] for k in sorted(union)),
            accounts=len(serving),
            unknown_accounts=unknown,
            generated_at=time.time(),
        )

    # ---- INVALID_MODEL_ID
    async def mark_lacking(self, cid: str, model: str) -> None:
        await self._redis.hset(self._keys.lacks(cid), model, str(now_ms()))
        log.info(
            "account lacks a model until its next catalogue refresh",
            extra={"credential": cid, "model": model},
        )
        self.refresh_later(cid, clear_lacks=False)

    async def forget(self, cid: str) -> None:
        await self._redis.delete(self._keys.catalogue(cid), self._keys.lacks(cid))

    # ---- fetch
    def refresh_later(self, cid: str, *, clear_lacks: bool = True) -> None:
        self._later.start(cid, lambda: self.refresh(cid, clear_lacks=clear_lacks))

    async def refresh(self, cid: str, *, clear_lacks: bool = True) -> tuple[CatalogueModel, ...]:
        """Fetch every page now and store it; the lacking marks go unless `clear_lacks` is false."""
        raw = await fetch_models(await self._refresher.runtime_target(cid))
        models = tuple(m for m in (parse_model(e) for e in raw) if m is not None)
        return await self.store(cid, models, clear_lacks=clear_lacks)

    async def store(
        self, cid: str, models: tuple[CatalogueModel, ...], *, clear_lacks: bool = True
    ) -> tuple[CatalogueModel, ...]:
        key = self._keys.catalogue(cid)
        before = cast("dict[str, str]", await self._redis.hgetall(key))
        mapping: dict[str | bytes, str | bytes] = {FETCHED_FIELD: str(now_ms())}
        mapping |= {m.id: m.model_dump_json(exclude_none=True) for m in models}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=cast("dict[Any, Any]", mapping))
            if clear_lacks:
                pipe.delete(self._keys.lacks(cid))
            await pipe.execute()
        before.pop(FETCHED_FIELD, None)
        changed = before != {k: v for k, v in mapping.items() if k != FETCHED_FIELD} or not before
        log.info(
            "catalogue fetched",
            extra={"credential": cid, "models": len(models), "changed": changed},
        )
        if changed:
            await self._events.catalogue(cid)
        return models

    async def refresh_all(self) -> None:
        for state in await self._store.states():
            if not in_rotation(state):
                continue
            try:
                await self.refresh(state.id)
            except TokenBrokerError as exc:
                log.info(
                    "scheduled catalogue fetch failed", extra={"credential": state.id, "reason": str(exc)}
                )


def _model(raw: Any) -> CatalogueModel | None:
    if not raw:
        return None
    try:
        return CatalogueModel.model_validate_json(raw)
    except ValidationError:
        return None
