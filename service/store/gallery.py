"""The indexed gallery: one model's collection in the vector store, timed and off the event loop.

A gallery is pinned to the physical collection its bundle built (`<alias>__<hash>`), not to the
alias: when the alias is swapped to a new model's collection, this gallery keeps answering from
the collection its vectors belong to, and the service switches to a new gallery together with
the new model (service/app/reload.py). So a query embedded by one model is never searched
against another model's vectors.

The store adapters are synchronous; every call here runs in a worker thread so a slow store
never stalls other requests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from sguardo.service.core.metrics import Metrics
from sguardo.service.store.base import CollectionInfo, Hit, Point, VectorStore, check_bundle

R = TypeVar("R")


class Gallery:
    def __init__(
        self,
        store: VectorStore,
        alias: str,
        bundle_id: str,
        dim: int,
        metrics: Metrics,
        *,
        collection: str | None = None,
    ) -> None:
        """`collection`: pin to this physical collection (a model being rolled out, whose
        collection exists before the alias points at it); default: the alias's, created on
        first use if the alias is new."""
        self.store = store
        self.alias = alias
        self.bundle_id = bundle_id
        self.dim = dim
        self._metrics = metrics
        self._pinned = collection
        self._info: CollectionInfo | None = None

    @property
    def collection(self) -> str | None:
        """The physical collection this gallery reads and writes, once known."""
        return self._info.collection if self._info is not None else self._pinned

    async def _call(self, operation: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        def timed() -> R:
            with self._metrics.time_store(operation):
                return fn(*args, **kwargs)

        return await asyncio.to_thread(timed)

    async def ensure(self) -> CollectionInfo:
        """Resolve (on first use: create) this bundle's collection and pin to it; refuse one
        built by another bundle. Cached on success: the pin is for the gallery's lifetime."""
        if self._info is None:
            if self._pinned is not None:
                info = await self._call("info", self.store.info, self._pinned)
                check_bundle(info, self.bundle_id)
            else:
                info = await self._call(
                    "ensure_collection",
                    self.store.ensure_collection,
                    self.alias,
                    self.bundle_id,
                    self.dim,
                )
            self._info = info
        return self._info

    async def _target(self) -> str:
        return (await self.ensure()).collection

    async def info(self) -> CollectionInfo:
        """The pinned collection as of now (its count changes)."""
        info = await self._call("info", self.store.info, await self._target())
        return replace(info, alias=self.alias)

    async def describe(self) -> CollectionInfo:
        """What the alias points at, without refusing another bundle's collection (for metrics)."""
        return await self._call("info", self.store.info, self.alias)

    async def search(
        self,
        vector: np.ndarray,
        *,
        top_k: int,
        filters: Mapping[str, Any] | None,
        score_threshold: float | None,
    ) -> list[Hit]:
        target = await self._target()
        search = functools.partial(
            self.store.search, top_k=top_k, filters=filters, score_threshold=score_threshold
        )
        return await self._call("search", search, target, vector)

    async def get(self, point_id: str, *, with_vector: bool = False) -> Point | None:
        target = await self._target()
        retrieve = functools.partial(self.store.retrieve, with_vectors=with_vector)
        points = await self._call("retrieve", retrieve, target, [point_id])
        return points[0] if points else None

    async def existing(self, ids: Sequence[str]) -> set[str]:
        target = await self._target()
        return await self._call("existing_ids", self.store.existing_ids, target, list(ids))

    async def upsert(self, points: Sequence[Point]) -> None:
        target = await self._target()
        await self._call("upsert", self.store.upsert, target, list(points))

    async def delete(self, ids: Sequence[str]) -> int:
        target = await self._target()
        return await self._call("delete", self.store.delete, target, list(ids))

    async def healthy(self) -> bool:
        try:
            return await self._call("healthy", self.store.healthy)
        except Exception:
            return False
