"""Vector stores behind one port: Qdrant Edge embedded (default) or a Qdrant server."""

from service.store.base import (
    CollectionInfo,
    CollectionNotFoundError,
    Hit,
    ModelMismatchError,
    Point,
    StoreError,
    StoreUnavailableError,
    VectorStore,
    check_bundle,
)
from service.store.factory import open_store
from service.store.ids import point_id_for_bytes

__all__ = [
    "CollectionInfo",
    "CollectionNotFoundError",
    "Hit",
    "ModelMismatchError",
    "Point",
    "StoreError",
    "StoreUnavailableError",
    "VectorStore",
    "check_bundle",
    "open_store",
    "point_id_for_bytes",
]
