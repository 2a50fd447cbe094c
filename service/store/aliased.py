"""The logic every adapter shares, written once over a handful of engine primitives.

As in qdrant-client (one facade, a local and a remote implementation), `AliasedStore` holds the
bookkeeping — alias resolution, which bundle built a collection, id and vector validation,
batching, result ordering — and an adapter only says how its engine creates, reads and writes.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from sguardo.service.store.base import (
    CollectionInfo,
    CollectionNotFoundError,
    Filters,
    Hit,
    InvalidQueryError,
    ModelMismatchError,
    Point,
    StoreError,
    check_bundle,
)
from sguardo.service.store.ids import canonical_id

# Key under which a collection records the bundle that built it (collection metadata).
BUNDLE_KEY = "sguardo_bundle_id"
BATCH = 256


def collection_name(alias: str, bundle_id: str) -> str:
    """`<alias>__<short hash of bundle_id>`: one physical collection per (alias, model)."""
    return f"{alias}__{hashlib.sha256(bundle_id.encode()).hexdigest()[:12]}"


def build_filter(filters: Filters | None, models: Any) -> Any:
    """Payload filters as a `Filter` of the given engine's model classes.

    qdrant-client's `models` and `qdrant_edge` spell Filter, FieldCondition, MatchValue and
    MatchAny with the same keywords, so one function serves both.
    """
    if not filters:
        return None
    must = []
    for key, value in filters.items():
        if isinstance(value, list | tuple | set | frozenset):
            values = list(value)
            if not values or not all(_matchable(v) and not isinstance(v, bool) for v in values):
                raise InvalidQueryError(
                    f"Filter on {key!r}: a list must hold strings or integers, got {value!r}."
                )
            match = models.MatchAny(any=values)
        elif _matchable(value):
            match = models.MatchValue(value=value)
        else:
            raise InvalidQueryError(
                f"Filter on {key!r}: match a string, integer or boolean (or a list of strings "
                f"or integers), got {value!r}."
            )
        must.append(models.FieldCondition(key=key, match=match))
    return models.Filter(must=must)


def _matchable(value: Any) -> bool:
    return isinstance(value, str | int | bool)


def as_matrix(points: Sequence[Point]) -> np.ndarray:
    try:
        matrix = np.asarray([np.asarray(p.vector, dtype=np.float32) for p in points])
    except ValueError:
        raise StoreError("Points must all have vectors of the same length.") from None
    if matrix.ndim != 2:
        raise StoreError("Each point's vector must be a flat list of numbers.")
    return matrix


def _batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AliasedStore(ABC):
    """`VectorStore` over engine primitives; subclasses implement the `_`-methods."""

    # --- engine primitives ------------------------------------------------------------------
    @abstractmethod
    def _resolve_alias(self, alias: str) -> str | None:
        """The physical collection `alias` points at, or None."""

    @abstractmethod
    def _alias_map(self) -> dict[str, str]:
        """Every alias -> the physical collection it points at."""

    @abstractmethod
    def _collection_names(self) -> list[str]:
        """Every physical collection (Sguardo's or not)."""

    @abstractmethod
    def _drop(self, collection: str) -> None: ...

    @abstractmethod
    def _scroll(
        self, target: str, offset: str | None, limit: int, with_payload: bool
    ) -> tuple[list[Point], str | None]:
        """Up to `limit` points from `offset` on (id order, no vectors), and the next offset."""

    @abstractmethod
    def _collection_meta(self, collection: str) -> tuple[str | None, int] | None:
        """(bundle id recorded at creation, dim), or None if the collection doesn't exist."""

    @abstractmethod
    def _create_collection(self, collection: str, bundle_id: str, dim: int) -> None: ...

    @abstractmethod
    def _set_alias(self, alias: str, collection: str) -> None:
        """Create `alias`, or atomically re-point it, to `collection`."""

    @abstractmethod
    def _count(self, collection: str) -> int: ...

    @abstractmethod
    def _upsert(
        self, target: str, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]]
    ) -> None: ...

    @abstractmethod
    def _search(
        self,
        target: str,
        vector: list[float],
        top_k: int,
        filters: Filters | None,
        score_threshold: float | None,
    ) -> list[Hit]: ...

    @abstractmethod
    def _retrieve(
        self, target: str, ids: list[str], with_payload: bool, with_vectors: bool
    ) -> list[Point]: ...

    @abstractmethod
    def _delete(self, target: str, ids: list[str]) -> None: ...

    @abstractmethod
    def optimize(self, alias: str) -> None: ...

    @abstractmethod
    def healthy(self) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    def _target(self, alias: str) -> str:
        """What data operations address: the physical collection behind `alias`, or `alias`
        itself when it is a physical name (`<alias>__<hash>`).

        A server that resolves aliases itself overrides this to save a round trip.
        """
        if is_physical(alias):
            if self._collection_meta(alias) is None:
                raise _not_found(alias)
            return alias
        collection = self._resolve_alias(alias)
        if collection is None:
            raise _not_found(alias)
        return collection

    def _alias_of(self, collection: str, aliases: Mapping[str, str] | None = None) -> str:
        """The alias pointing at `collection` (the first by name if several do), or ""."""
        aliases = self._alias_map() if aliases is None else aliases
        pointing = sorted(a for a, c in aliases.items() if c == collection)
        return pointing[0] if pointing else ""

    # --- VectorStore ----------------------------------------------------------------------
    def ensure_collection(self, alias: str, bundle_id: str, dim: int) -> CollectionInfo:
        _check_alias(alias)
        if self._resolve_alias(alias) is None:
            name = collection_name(alias, bundle_id)
            if self._collection_meta(name) is None:
                self._create_collection(name, bundle_id, dim)
            self._set_alias(alias, name)
        info = self.info(alias)
        check_bundle(info, bundle_id)
        if info.dim != dim:
            raise ModelMismatchError(
                f"Collection {alias!r} holds {info.dim}-d vectors but bundle {bundle_id!r} "
                f"makes {dim}-d ones; reindex into a new alias."
            )
        return info

    def info(self, alias: str) -> CollectionInfo:
        if is_physical(alias):
            collection: str | None = alias
            pointing = self._alias_of(alias)
        else:
            collection, pointing = self._resolve_alias(alias), alias
        meta = None if collection is None else self._collection_meta(collection)
        if collection is None or meta is None:
            raise _not_found(alias)
        bundle_id, dim = meta
        if bundle_id is None:
            raise StoreError(
                f"Collection {collection!r} behind {alias!r} does not record which model "
                "bundle built it (not created by Sguardo); reindex into a new alias."
            )
        return CollectionInfo(pointing, collection, bundle_id, dim, self._count(collection))

    def list_collections(self) -> list[CollectionInfo]:
        aliases = self._alias_map()
        found = []
        for collection in sorted(self._collection_names()):
            meta = self._collection_meta(collection)
            if meta is None or meta[0] is None:
                continue  # not made by Sguardo (or half-created): not ours to show
            found.append(
                CollectionInfo(
                    self._alias_of(collection, aliases),
                    collection,
                    meta[0],
                    meta[1],
                    self._count(collection),
                )
            )
        return found

    def create_collection(self, alias: str, bundle_id: str, dim: int) -> CollectionInfo:
        _check_alias(alias)
        name = collection_name(alias, bundle_id)
        meta = self._collection_meta(name)
        if meta is None:
            self._create_collection(name, bundle_id, dim)
        elif meta != (bundle_id, dim):
            raise ModelMismatchError(
                f"Collection {name!r} exists with bundle {meta[0]!r} and {meta[1]}-d vectors, "
                f"not bundle {bundle_id!r} and {dim}-d ones; drop it "
                f"(`sguardo collection drop {name}`) and create it again."
            )
        return self.info(name)

    def drop_collection(self, collection: str) -> None:
        if not is_physical(collection):
            raise StoreError(
                f"{collection!r} is an alias name, not a collection: drop a physical collection "
                "(`<alias>__<hash>`, see `sguardo collection list`)."
            )
        meta = self._collection_meta(collection)
        if meta is None:
            raise _not_found(collection)
        if meta[0] is None:
            raise StoreError(
                f"Collection {collection!r} was not made by Sguardo (it records no model "
                "bundle); drop it with the database's own tools if you mean to."
            )
        pointing = sorted(a for a, c in self._alias_map().items() if c == collection)
        if pointing:
            raise StoreError(
                f"Cannot drop {collection!r}: alias {', '.join(map(repr, pointing))} points at "
                "it, so it is being served. Swap the alias to another collection first "
                "(`sguardo collection swap ALIAS COLLECTION`)."
            )
        self._drop(collection)

    def scroll(
        self, name: str, batch: int = BATCH, *, with_payload: bool = True
    ) -> Iterator[list[Point]]:
        if batch < 1:
            raise InvalidQueryError(f"batch must be at least 1, got {batch}.")
        target = self._target(name)
        offset: str | None = None
        while True:
            points, offset = self._scroll(target, offset, batch, with_payload)
            if points:
                yield points
            if offset is None:
                return

    def upsert(self, alias: str, points: Sequence[Point]) -> None:
        if not points:
            return
        target = self._target(alias)
        for batch in _batches(points):
            ids = [canonical_id(p.id) for p in batch]
            self._upsert(target, ids, as_matrix(batch), [dict(p.payload) for p in batch])

    def search(
        self,
        alias: str,
        vector: Sequence[float] | np.ndarray,
        *,
        top_k: int = 10,
        filters: Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        if top_k < 1:
            raise InvalidQueryError(f"top_k must be at least 1, got {top_k}.")
        query = np.asarray(vector, dtype=np.float32)
        if query.ndim != 1:
            raise StoreError("The query vector must be a flat list of numbers.")
        return self._search(self._target(alias), query.tolist(), top_k, filters, score_threshold)

    def retrieve(
        self, alias: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> list[Point]:
        wanted = list(dict.fromkeys(canonical_id(i) for i in ids))
        target = self._target(alias)
        found: dict[str, Point] = {}
        for batch in _batches(wanted):
            found.update((p.id, p) for p in self._retrieve(target, list(batch), True, with_vectors))
        return [found[i] for i in wanted if i in found]

    def existing_ids(self, alias: str, ids: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(canonical_id(i) for i in ids))
        target = self._target(alias)
        existing: set[str] = set()
        for batch in _batches(wanted, 1024):
            existing.update(p.id for p in self._retrieve(target, list(batch), False, False))
        return existing

    def delete(self, alias: str, ids: Sequence[str]) -> int:
        existing = sorted(self.existing_ids(alias, ids))
        if existing:
            target = self._target(alias)
            for batch in _batches(existing, 1024):
                self._delete(target, list(batch))
        return len(existing)

    def swap_alias(self, alias: str, collection: str) -> None:
        _check_alias(alias)
        meta = self._collection_meta(collection)
        if meta is None:
            raise CollectionNotFoundError(
                f"Cannot point alias {alias!r} at {collection!r}: no such collection."
            )
        current = self._resolve_alias(alias)
        current_meta = None if current is None else self._collection_meta(current)
        if current_meta is not None and current_meta[1] != meta[1]:
            raise ModelMismatchError(
                f"Cannot point alias {alias!r} at {collection!r}: it holds {meta[1]}-d vectors "
                f"but {alias!r} serves {current_meta[1]}-d ones ({current!r}); clients and the "
                "service expect one size behind an alias. Use a new alias for the new model."
            )
        self._set_alias(alias, collection)


def is_physical(name: str) -> bool:
    """A physical collection name (`<alias>__<hash>`), not an alias (aliases have no `__`)."""
    return "__" in name


def _check_alias(alias: str) -> None:
    if not alias or is_physical(alias):
        raise StoreError(f"Alias {alias!r} must be non-empty and must not contain '__'.")


def _not_found(alias: str) -> CollectionNotFoundError:
    return CollectionNotFoundError(
        f"No collection {alias!r}: index some images first (that creates it), or check the "
        "collection name."
    )
