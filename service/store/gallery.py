"""The indexed gallery: one collection alias of the vector store, timed and off the event loop.

The store adapters are synchronous; every call here runs in a worker thread so a slow store
never stalls other requests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from sguardo.service.core.metrics import Metrics
from sguardo.service.store.base import CollectionInfo, Hit, Point, VectorStore

R = TypeVar("R")


class Gallery:
    def __init__(
        self, store: VectorStore, alias: str, bundle_id: str, dim: int, metrics: Metrics
    ) -> None:
        self.store = store
        self.alias = alias
        self.bundle_id = bundle_id
        self.dim = dim
        self._metrics = metrics
        self._info: CollectionInfo | None = None

    async def _call(self, operation: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        def timed() -> R:
            with self._metrics.time_store(operation):
                return fn(*args, **kwargs)

        return await asyncio.to_thread(timed)

    async def ensure(self) -> CollectionInfo:
        """Create the collection on first use; refuse one built by another bundle."""
        if self._info is None:
            self._info = await self._call(
                "ensure_collection",
                self.store.ensure_collection,
                self.alias,
                self.bundle_id,
                self.dim,
            )
        return self._info

    async def info(self) -> CollectionInfo:
        await self.ensure()
        return await self._call("info", self.store.info, self.alias)

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
        await self.ensure()
        search = functools.partial(
            self.store.search, top_k=top_k, filters=filters, score_threshold=score_threshold
        )
        return await self._call("search", search, self.alias, vector)

    async def get(self, point_id: str, *, with_vector: bool = False) -> Point | None:
        await self.ensure()
        retrieve = functools.partial(self.store.retrieve, with_vectors=with_vector)
        points = await self._call("retrieve", retrieve, self.alias, [point_id])
        return points[0] if points else None

    async def existing(self, ids: Sequence[str]) -> set[str]:
        await self.ensure()
        return await self._call("existing_ids", self.store.existing_ids, self.alias, list(ids))

    async def upsert(self, points: Sequence[Point]) -> None:
        await self.ensure()
        await self._call("upsert", self.store.upsert, self.alias, list(points))

    async def delete(self, ids: Sequence[str]) -> int:
        await self.ensure()
        return await self._call("delete", self.store.delete, self.alias, list(ids))

    async def healthy(self) -> bool:
        try:
            return await self._call("healthy", self.store.healthy)
        except Exception:
            return False
