"""Pick the vector store the settings ask for."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sguardo.service.store.base import StoreError, VectorStore


def open_store(
    kind: Literal["embedded", "qdrant"],
    *,
    path: Path | None = None,
    url: str | None = None,
    api_key: str | None = None,
    prefer_grpc: bool = True,
) -> VectorStore:
    """`embedded`: Qdrant Edge in-process under `path`; `qdrant`: a server at `url`."""
    if kind == "embedded":
        if path is None:
            raise StoreError("The embedded store needs a folder (SGUARDO_STORE_PATH).")
        from sguardo.service.store.embedded import EmbeddedStore

        return EmbeddedStore(path)
    if kind == "qdrant":
        if not url:
            raise StoreError("The qdrant store needs a server URL (SGUARDO_QDRANT_URL).")
        from sguardo.service.store.qdrant_server import QdrantServerStore

        return QdrantServerStore(url, api_key=api_key, prefer_grpc=prefer_grpc)
    raise StoreError(f"Unknown store kind {kind!r}: use 'embedded' or 'qdrant'.")
