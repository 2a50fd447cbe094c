"""The vector-store port: what the service needs from a vector database, and nothing more.

Adapters (`embedded.EmbeddedStore`, `qdrant_server.QdrantServerStore`) implement `VectorStore`
and pass one contract suite (`tests/service/store/test_contract.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Point:
    id: str  # UUID string (see service/store/ids.py)
    vector: list[float] | np.ndarray
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class CollectionInfo:
    alias: str  # an alias pointing at `collection`; "" when none does
    collection: str  # the physical collection behind the alias
    bundle_id: str  # "<model_id>@<content_hash>" of the bundle that built it
    dim: int
    count: int


class StoreError(Exception):
    """Base of the store's errors; the message is meant for the user."""


class CollectionNotFoundError(StoreError):
    pass


class ModelMismatchError(StoreError):
    pass


class StoreLockedError(StoreError):
    """The embedded store is held by another process (it admits one)."""


class InvalidQueryError(StoreError):
    """The store refuses what was asked (a filter it cannot run, an id that is not a UUID):
    the caller's mistake (the API answers 422), unlike other StoreErrors."""


class StoreUnavailableError(StoreError):
    """The vector database cannot be reached (the API answers 503)."""


Filters = Mapping[str, Any]
"""Payload key -> value (exact match) or list/tuple/set of values (match any)."""


class VectorStore(Protocol):
    """Data methods take an alias (`images`) or a physical collection name (`images__<hash>`,
    which contains `__`): a new model's collection is filled before an alias points at it."""

    def ensure_collection(self, alias: str, bundle_id: str, dim: int) -> CollectionInfo:
        """Create `<alias>__<short hash of bundle_id>` and point `alias` at it if the alias is
        new; raise ModelMismatchError if the alias exists and another bundle built it."""
        ...

    def info(self, alias: str) -> CollectionInfo: ...

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection Sguardo made, by name; `alias` is the one pointing at it, or ""."""
        ...

    def create_collection(self, alias: str, bundle_id: str, dim: int) -> CollectionInfo:
        """Create `<alias>__<short hash of bundle_id>` if missing, without pointing `alias` at
        it; ModelMismatchError if it exists with another bundle or dim."""
        ...

    def drop_collection(self, collection: str) -> None:
        """Delete a physical collection; StoreError while an alias points at it."""
        ...

    def scroll(
        self, name: str, batch: int = 256, *, with_payload: bool = True
    ) -> Iterator[list[Point]]:
        """Every point (id and payload, no vector), `batch` at a time, in id order."""
        ...

    def upsert(self, alias: str, points: Sequence[Point]) -> None:
        """Insert or replace by id: re-upserting the same points changes nothing."""
        ...

    def search(
        self,
        alias: str,
        vector: Sequence[float] | np.ndarray,
        *,
        top_k: int = 10,
        filters: Filters | None = None,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """Cosine similarity, best first."""
        ...

    def retrieve(
        self, alias: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> list[Point]:
        """The points that exist, in the order asked; missing ids are left out. Vectors come
        back unit-length (cosine collections store them normalised), or empty without
        `with_vectors`."""
        ...

    def delete(self, alias: str, ids: Sequence[str]) -> int:
        """Delete by id; returns how many of them existed."""
        ...

    def existing_ids(self, alias: str, ids: Sequence[str]) -> set[str]: ...

    def swap_alias(self, alias: str, collection: str) -> None:
        """Atomically re-point (or create) `alias` to an existing physical collection: every
        reader sees the old target or the new one. Refuses one of another dimension."""
        ...

    def optimize(self, alias: str) -> None:
        """Build search indexes after a bulk index. Embedded: blocks the process (minutes at
        100K vectors), so run it from the indexer, not while serving. Server: no-op."""
        ...

    def healthy(self) -> bool: ...

    def close(self) -> None: ...


def check_bundle(info: CollectionInfo, bundle_id: str) -> None:
    """Refuse to use a collection built by another model: its vectors are not comparable."""
    if info.bundle_id != bundle_id:
        raise ModelMismatchError(
            f"Collection {info.alias!r} (physical {info.collection!r}) was built with model "
            f"bundle {info.bundle_id!r}, but the loaded bundle is {bundle_id!r}: vectors from "
            "different models are not comparable. Load the bundle that built it, or reindex "
            "with the new model into a new alias and swap the alias once done."
        )
