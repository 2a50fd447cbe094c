"""Image bytes + metadata → points in the gallery. Used by `POST /images` and bulk indexing.

Ids derive from the bytes, so indexing the same image twice stores it once, and an
interrupted bulk run can simply be run again. The original bytes are kept too (before the
point is written, so a point in the gallery always has its original).
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image

from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.originals.base import OriginalStore
from sguardo.service.store.base import Point
from sguardo.service.store.gallery import Gallery
from sguardo.service.store.ids import point_id_for_bytes


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


RESERVED_KEYS = frozenset({"filename", "thumbnail", "width", "height", "indexed_at"})


class MetadataError(ValueError):
    """User metadata that cannot be stored (reserved keys, not a JSON object)."""


@dataclass(frozen=True)
class ImageInput:
    data: bytes
    filename: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexedImage:
    id: str
    filename: str
    created: bool  # False: the same bytes were already indexed


@dataclass(frozen=True)
class _Prepared:
    id: str
    array: np.ndarray  # what the model sees; the decoded pixels are already gone
    payload: dict[str, Any]


def check_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        raise MetadataError('metadata must be a JSON object, e.g. {"album": "mare"}')
    clash = sorted(RESERVED_KEYS & set(metadata))
    if clash:
        raise MetadataError(
            f"metadata keys {clash} are reserved (the service sets {sorted(RESERVED_KEYS)}); "
            "rename them"
        )
    return dict(metadata)


def make_thumbnail(image: Image.Image, size: int) -> str:
    """A small base64 JPEG, kept in the payload so the gallery needs no separate file store.

    Shrinks `image` in place (no full-size copy) and writes none of the upload's metadata:
    its JPEG comment, EXIF (GPS position, camera serial) and ICC profile stay private.
    """
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    image.info.clear()
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class ImageIndexer:
    def __init__(
        self,
        embedder: Embedder,
        gallery: Gallery,
        *,
        originals: OriginalStore,
        thumbnail_size: int = 192,
    ):
        self.embedder = embedder
        self.gallery = gallery
        self.originals = originals
        self.thumbnail_size = thumbnail_size

    def _keep_originals(self, items: Mapping[str, ImageInput]) -> None:
        for point_id, item in items.items():
            self.originals.put(point_id, item.data)  # a no-op when already kept

    def _prepare(self, item: ImageInput) -> _Prepared:
        """Decode (bounded) once, measure, preprocess and thumbnail one image. CPU work: run
        it on the embedder's decode threads. Only the model's array and the thumbnail
        outlive this call, so a request's images are never all in memory at full size."""
        metadata = check_metadata(item.metadata)
        image = self.embedder.decode_image(item.data)  # raises ImageDecodeError
        header = Image.open(io.BytesIO(item.data))  # header only: the original size
        width, height = header.size
        if _rotated(header):
            width, height = height, width
        array = self.embedder.preprocessor.to_array(image)
        source = image
        if min(image.size) < self.thumbnail_size < min(width, height):
            # Only when the thumbnail is larger than the model's input: the JPEG draft went
            # below thumbnail size, so this one image is decoded again, drafted larger.
            source = self.embedder.decode_image(item.data, min_size=self.thumbnail_size)
        payload = {
            **metadata,
            "filename": item.filename,
            "width": width,
            "height": height,
            "thumbnail": make_thumbnail(source, self.thumbnail_size),
            "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return _Prepared(point_id_for_bytes(item.data), array, payload)

    def _prepare_all(self, items: list[ImageInput]) -> list[_Prepared]:
        prepared = []
        for position, item in enumerate(items):
            try:
                prepared.append(self._prepare(item))
            except ImageDecodeError as exc:
                name = clip(item.filename, 80) if item.filename else f"image #{position + 1}"
                raise ImageDecodeError(f"{name}: {exc}") from exc
        return prepared

    async def index(
        self, items: Sequence[ImageInput], *, skip_existing: bool = True
    ) -> list[IndexedImage]:
        """Index `items`; already-indexed bytes are skipped (not re-embedded) when asked."""
        for item in items:  # all of them: already-indexed bytes must not skip the check
            check_metadata(item.metadata)
        ids = [point_id_for_bytes(item.data) for item in items]
        existing = await self.gallery.existing(ids) if skip_existing else set()
        todo = [(i, item) for i, item in enumerate(items) if ids[i] not in existing]
        # Items repeated within one request are embedded once.
        unique: dict[str, ImageInput] = {}
        for i, item in todo:
            unique.setdefault(ids[i], item)
        # Already indexed: not embedded again, but their originals are kept if they were not
        # (galleries indexed before originals were kept catch up by being indexed again).
        known = {ids[i]: item for i, item in enumerate(items) if ids[i] in existing}
        if known:
            await asyncio.to_thread(self._keep_originals, known)
        if unique:
            with self.embedder.admit_images(len(unique)):  # 503 before any decoding
                todo_items = list(unique.values())
                prepared = await self.embedder.decode(lambda: self._prepare_all(todo_items))
                vectors = await self.embedder.embed_arrays([p.array for p in prepared])
            points = [
                Point(id=p.id, vector=vector, payload=p.payload)
                for p, vector in zip(prepared, vectors, strict=True)
            ]
            await asyncio.to_thread(self._keep_originals, unique)
            await self.gallery.upsert(points)
        created: set[str] = set()
        results = []
        for point_id, item in zip(ids, items, strict=True):
            is_new = point_id in unique and point_id not in created
            created.add(point_id)
            results.append(IndexedImage(point_id, item.filename, is_new))
        return results


def _rotated(image: Image.Image) -> bool:
    try:
        return image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:
        return False
