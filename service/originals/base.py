"""The originals port: a blob store keyed by the content-hash point id.

Small on purpose (put, get, exists, delete): a filesystem adapter today, object storage later,
and the indexer, the routes and a reindex need nothing more.
"""

from __future__ import annotations

from typing import Protocol


class OriginalsError(RuntimeError):
    """The blob store failed (I/O, permissions): the service answers 503."""


class OriginalMissingError(OriginalsError):
    """An indexed image whose original is not kept: it was indexed before originals were."""

    def __init__(self, image_id: str) -> None:
        super().__init__(
            f"the original of image {image_id} is not kept: it was indexed before the service "
            "kept originals. Re-index it (POST /images with the same file, or `sguardo index` "
            "on its folder again): its id stays the same and nothing is embedded twice"
        )
        self.image_id = image_id


class OriginalCorruptError(OriginalsError):
    """Stored bytes that no longer hash to their id (a damaged disk, a hand-edited file)."""

    def __init__(self, image_id: str) -> None:
        super().__init__(
            f"the stored original of image {image_id} is damaged (its bytes no longer match "
            "its id); re-index the image from its source file"
        )
        self.image_id = image_id


class OriginalStore(Protocol):
    def put(self, image_id: str, data: bytes) -> bool:
        """Keep `data` under `image_id`; False when it was already kept (ids are content
        hashes, so the same id always means the same bytes)."""
        ...

    def get(self, image_id: str) -> bytes:
        """The bytes; `OriginalMissingError` when not kept, `OriginalCorruptError` when they
        no longer match the id."""
        ...

    def exists(self, image_id: str) -> bool: ...

    def delete(self, image_id: str) -> bool:
        """Remove the original; False when there was none."""
        ...
