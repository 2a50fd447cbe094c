"""The default store: Qdrant Edge (Qdrant's Rust engine) in-process, persisted under one folder.

Edge is a single shard with no notion of collections or aliases, so this adapter keeps them
itself: one shard per physical collection under `collections/<name>/`, the bundle that built
it in `collections/<name>/sguardo.json`, the aliases in `aliases.json` (a temporary file
renamed over it, so `swap_alias` is atomic: a crash leaves the old aliases or the new, never
none). A lock file keeps a second process out: the shard files are not safe to share — run
several workers against a Qdrant server instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from sguardo.service.store.aliased import AliasedStore, build_filter
from sguardo.service.store.base import Filters, Hit, Point, StoreError, StoreLockedError

META_FILE = "sguardo.json"
# Measured (loadtests/bench_store.py): the int8 scores alone lose ~7% of the true top 10;
# rescoring twice the candidates with the float vectors recovers them for ~0.1 ms.
SEARCH_PARAMS = qe.SearchParams(
    hnsw_ef=128, quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0)
)
ALIASES_FILE = "aliases.json"


class EmbeddedStore(AliasedStore):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        (self.path / "collections").mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path / ".lock", "w")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise StoreLockedError(
                f"The embedded store at {self.path} is already open in another process. "
                "Run a single worker, or use a Qdrant server (SGUARDO_STORE_KIND=qdrant)."
            ) from None
        self._shards: dict[str, qe.EdgeShard] = {}
        # The lock makes this process the only writer, so the aliases can live in memory.
        aliases_file = self.path / ALIASES_FILE
        self._aliases: dict[str, str] = (
            json.loads(aliases_file.read_text()) if aliases_file.exists() else {}
        )
        # Collection records, read once: data calls by physical name check one per call.
        self._meta: dict[str, tuple[str | None, int]] = {}
        self._guard = threading.RLock()  # catalog changes and shard opening
        self._closed = False

    # --- catalog ------------------------------------------------------------------------
    def _resolve_alias(self, alias: str) -> str | None:
        return self._aliases.get(alias)

    def _alias_map(self) -> dict[str, str]:
        return dict(self._aliases)

    def _collection_names(self) -> list[str]:
        return [
            d.name
            for d in (self.path / "collections").iterdir()
            if d.is_dir() and not d.name.startswith(".")
        ]

    def _collection_dir(self, collection: str) -> Path:
        if not collection or "/" in collection or collection.startswith("."):
            raise StoreError(f"Invalid collection name {collection!r}.")
        return self.path / "collections" / collection

    def _collection_meta(self, collection: str) -> tuple[str | None, int] | None:
        if collection in self._meta:
            return self._meta[collection]
        file = self._collection_dir(collection) / META_FILE
        if not file.exists():
            return None
        meta = json.loads(file.read_text())
        self._meta[collection] = found = (meta.get("bundle_id"), int(meta["dim"]))
        return found

    def _create_collection(self, collection: str, bundle_id: str, dim: int) -> None:
        with self._guard, _engine_errors():
            folder = self._collection_dir(collection)
            # A shard without its record is what a crash during creation leaves: start over.
            shutil.rmtree(folder / "shard", ignore_errors=True)
            config = qe.EdgeConfig(
                vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
                hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
                # int8 copies in RAM: HNSW builds faster and searches read a quarter of the
                # bytes; SEARCH_PARAMS rescores the candidates with the float vectors.
                quantization_config=qe.ScalarQuantizationConfig(
                    type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned
                ),
            )
            self._shards[collection] = qe.EdgeShard.create(str(folder / "shard"), config)
            # Written last: a collection exists once it records its bundle.
            _write_atomically(folder / META_FILE, {"bundle_id": bundle_id, "dim": dim})

    def _drop(self, collection: str) -> None:
        with self._guard, _engine_errors():
            folder = self._collection_dir(collection)
            shard = self._shards.pop(collection, None)
            if shard is not None:
                shard.close()
            # The record goes first: from then on the collection does not exist, and a crash
            # before the folder is gone leaves what `_create_collection` already cleans up.
            (folder / META_FILE).unlink()
            self._meta.pop(collection, None)
            _fsync_dir(folder)
            shutil.rmtree(folder)

    def _set_alias(self, alias: str, collection: str) -> None:
        with self._guard:
            aliases = {**self._aliases, alias: collection}
            _write_atomically(self.path / ALIASES_FILE, aliases)
            self._aliases = aliases

    def _shard(self, collection: str) -> qe.EdgeShard:
        with self._guard:
            if self._closed:
                raise StoreError("The embedded store is closed.")
            if collection not in self._shards:
                shard_dir = self._collection_dir(collection) / "shard"
                with _engine_errors():
                    self._shards[collection] = qe.EdgeShard.load(str(shard_dir))
            return self._shards[collection]

    # --- data ---------------------------------------------------------------------------
    def _count(self, collection: str) -> int:
        with _engine_errors():
            return int(self._shard(collection).count(qe.CountRequest(exact=True)))

    def _upsert(
        self, target: str, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]]
    ) -> None:
        points = [
            qe.Point(i, v, p) for i, v, p in zip(ids, vectors.tolist(), payloads, strict=True)
        ]
        with _engine_errors():
            self._shard(target).update(qe.UpdateOperation.upsert_points(points))

    def _search(
        self,
        target: str,
        vector: list[float],
        top_k: int,
        filters: Filters | None,
        score_threshold: float | None,
    ) -> list[Hit]:
        request = qe.QueryRequest(
            limit=top_k,
            query=qe.Query.Nearest(vector),
            filter=build_filter(filters, qe),
            score_threshold=score_threshold,
            with_payload=True,
            with_vector=False,
            params=SEARCH_PARAMS,
        )
        with _engine_errors():
            found = self._shard(target).query(request)
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in found]

    def _retrieve(
        self, target: str, ids: list[str], with_payload: bool, with_vectors: bool
    ) -> list[Point]:
        with _engine_errors():
            records = self._shard(target).retrieve(
                list(ids), with_payload=with_payload, with_vector=with_vectors
            )
        return [
            Point(str(r.id), list(r.vector) if with_vectors else [], dict(r.payload or {}))  # type: ignore[arg-type]
            for r in records
        ]

    def _scroll(
        self, target: str, offset: str | None, limit: int, with_payload: bool
    ) -> tuple[list[Point], str | None]:
        request = qe.ScrollRequest(
            offset=offset, limit=limit, with_payload=with_payload, with_vector=False
        )
        with _engine_errors():
            records, next_offset = self._shard(target).scroll(request)
        points = [Point(str(r.id), [], dict(r.payload or {})) for r in records]
        return points, None if next_offset is None else str(next_offset)

    def _delete(self, target: str, ids: list[str]) -> None:
        with _engine_errors():
            self._shard(target).update(qe.UpdateOperation.delete_points(list(ids)))

    def optimize(self, alias: str) -> None:
        """Build the HNSW index over what is stored (blocks; minutes at 100K vectors).

        Edge runs no background optimizer: until this is called, new points are searched by
        brute force. Call it once a bulk index is done.
        """
        with _engine_errors():
            self._shard(self._target(alias)).optimize()

    def healthy(self) -> bool:
        return not self._closed and (self.path / "collections").is_dir()

    def close(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._closed = True
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
            self._lock_file.close()  # releases the flock


def _write_atomically(file: Path, data: Any) -> None:
    """Write a temporary file, fsync it, rename it over `file`, fsync the folder: a reader
    or a crash sees the old contents or the new, never neither nor half of one."""
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, file)
    _fsync_dir(file.parent)  # the rename itself survives a power cut


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _engine_errors() -> Iterator[None]:
    try:
        yield
    except StoreError:
        raise
    except Exception as error:  # the engine raises plain exceptions with its own messages
        raise StoreError(f"Embedded vector store: {error}") from error
