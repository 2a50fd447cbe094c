"""A Qdrant server or cluster through qdrant-client (gRPC preferred).

The server keeps aliases and collection metadata itself, and resolves aliases on every data
call, so searches address the alias directly (no extra round trip) and an alias swap made by
another replica takes effect at once. `location=":memory:"` runs qdrant-client's local mode:
the contract tests' stand-in for a server.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import grpc
import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from sguardo.service.store.aliased import BUNDLE_KEY, AliasedStore, build_filter
from sguardo.service.store.base import (
    CollectionNotFoundError,
    Filters,
    Hit,
    Point,
    StoreError,
    StoreUnavailableError,
)


class QdrantServerStore(AliasedStore):
    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        prefer_grpc: bool = True,
        location: str | None = None,
        timeout: int = 10,
    ) -> None:
        self._where = url or location or "?"
        # qdrant-client's local mode is plain Python over numpy arrays, not safe across
        # threads (a search racing an upsert read rows of zeros); a server is.
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if location is not None else contextlib.nullcontext()
        )
        self.client = QdrantClient(
            url=url,
            location=location,
            api_key=api_key,
            prefer_grpc=prefer_grpc,
            timeout=timeout,
            check_compatibility=False,  # no request at construction: start even if it is down
        )

    def _target(self, alias: str) -> str:
        return alias

    def _resolve_alias(self, alias: str) -> str | None:
        return self._alias_map().get(alias)

    def _alias_map(self) -> dict[str, str]:
        with self._errors("aliases"):
            aliases = self.client.get_aliases().aliases
        return {a.alias_name: a.collection_name for a in aliases}

    def _collection_names(self) -> list[str]:
        with self._errors("collections"):
            return [c.name for c in self.client.get_collections().collections]

    def _drop(self, collection: str) -> None:
        with self._errors(collection):
            self.client.delete_collection(collection)

    def _collection_meta(self, collection: str) -> tuple[str | None, int] | None:
        with self._errors(collection):
            if not self.client.collection_exists(collection):
                return None
            config = self.client.get_collection(collection).config
        vectors = config.params.vectors
        if not isinstance(vectors, models.VectorParams):
            raise StoreError(f"Collection {collection!r} has named vectors; not made by Sguardo.")
        bundle_id = (config.metadata or {}).get(BUNDLE_KEY)
        return (str(bundle_id) if bundle_id is not None else None), vectors.size

    def _create_collection(self, collection: str, bundle_id: str, dim: int) -> None:
        with self._errors(collection):
            self.client.create_collection(
                collection,
                vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                metadata={BUNDLE_KEY: bundle_id},
            )

    def _set_alias(self, alias: str, collection: str) -> None:
        operations: list[models.CreateAliasOperation | models.DeleteAliasOperation] = []
        if self._resolve_alias(alias) is not None:
            operations.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            )
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        )
        # Delete and create in one request: the server applies it atomically, so no search
        # ever finds the alias missing or half-moved.
        with self._errors(alias):
            self.client.update_collection_aliases(change_aliases_operations=operations)

    def _count(self, collection: str) -> int:
        with self._errors(collection):
            return self.client.count(collection, exact=True).count

    def _upsert(
        self, target: str, ids: list[str], vectors: np.ndarray, payloads: list[dict[str, Any]]
    ) -> None:
        batch = models.Batch(ids=list(ids), vectors=vectors.tolist(), payloads=payloads)
        with self._errors(target):
            self.client.upsert(target, points=batch, wait=True)

    def _search(
        self,
        target: str,
        vector: list[float],
        top_k: int,
        filters: Filters | None,
        score_threshold: float | None,
    ) -> list[Hit]:
        with self._errors(target):
            found = self.client.query_points(
                target,
                query=vector,
                limit=top_k,
                query_filter=build_filter(filters, models),
                score_threshold=score_threshold,
                with_payload=True,
            ).points
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in found]

    def _retrieve(
        self, target: str, ids: list[str], with_payload: bool, with_vectors: bool
    ) -> list[Point]:
        with self._errors(target):
            records = self.client.retrieve(
                target, ids=list(ids), with_payload=with_payload, with_vectors=with_vectors
            )
        return [
            Point(str(r.id), list(r.vector) if with_vectors else [], dict(r.payload or {}))  # type: ignore[arg-type]
            for r in records
        ]

    def _scroll(
        self, target: str, offset: str | None, limit: int, with_payload: bool
    ) -> tuple[list[Point], str | None]:
        with self._errors(target):
            records, next_offset = self.client.scroll(
                target, limit=limit, offset=offset, with_payload=with_payload, with_vectors=False
            )
        points = [Point(str(r.id), [], dict(r.payload or {})) for r in records]
        return points, None if next_offset is None else str(next_offset)

    def _delete(self, target: str, ids: list[str]) -> None:
        with self._errors(target):
            self.client.delete(target, points_selector=models.PointIdsList(points=list(ids)))

    def optimize(self, alias: str) -> None:
        """Nothing to do: the server indexes in the background."""

    def healthy(self) -> bool:
        try:
            self.client.get_collections()
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def _errors(self, name: str) -> Iterator[None]:
        """qdrant-client's REST, gRPC and local-mode errors as the store's own."""
        try:
            with self._serial:
                yield
        except StoreError:
            raise
        except ResponseHandlingException as error:
            raise self._unavailable(error) from error
        except UnexpectedResponse as error:
            if error.status_code == 404:
                raise _not_found(name) from error
            raise StoreError(f"Qdrant refused the request: {error}") from error
        except grpc.RpcError as error:
            code = error.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise self._unavailable(error) from error
            if code == grpc.StatusCode.NOT_FOUND:
                raise _not_found(name) from error
            raise StoreError(f"Qdrant refused the request: {error.details()}") from error
        except ValueError as error:  # local mode
            if "not found" in str(error):
                raise _not_found(name) from error
            raise StoreError(f"Qdrant refused the request: {error}") from error

    def _unavailable(self, error: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"The Qdrant server at {self._where} cannot be reached ({error}); check that it "
            "is running and SGUARDO_QDRANT_URL / SGUARDO_QDRANT_API_KEY are right."
        )


def _not_found(name: str) -> CollectionNotFoundError:
    return CollectionNotFoundError(
        f"No collection {name!r} in Qdrant: index some images first (that creates it), or "
        "check the collection name."
    )
