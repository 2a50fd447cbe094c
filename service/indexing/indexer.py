"""Image bytes + metadata → points in the gallery. Used by `POST /images` and bulk indexing.

Ids derive from the bytes, so indexing the same image twice stores it once, and an
interrupted bulk run can simply be run again.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PIL import Image, ImageOps

from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.store.base import Point
from sguardo.service.store.gallery import Gallery
from sguardo.service.store.ids import point_id_for_bytes

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
    image: Image.Image
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
    """A small base64 JPEG, kept in the payload so the gallery needs no separate file store."""
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=80, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class ImageIndexer:
    def __init__(self, embedder: Embedder, gallery: Gallery, *, thumbnail_size: int = 192):
        self.embedder = embedder
        self.gallery = gallery
        self.thumbnail_size = thumbnail_size

    def _prepare(self, item: ImageInput) -> _Prepared:
        """Decode (bounded), measure and thumbnail one image. CPU work: call off the loop."""
        metadata = check_metadata(item.metadata)
        image = self.embedder.decode_image(item.data)  # raises ImageDecodeError
        full = Image.open(io.BytesIO(item.data))  # header only; already checked above
        width, height = full.size
        if _rotated(full):
            width, height = height, width
        source = image
        if min(image.size) < self.thumbnail_size < min(width, height):
            # The model's decode was drafted below thumbnail size: decode again, drafted larger.
            full.draft("RGB", (self.thumbnail_size, self.thumbnail_size))
            source = ImageOps.exif_transpose(full).convert("RGB")
        payload = {
            **metadata,
            "filename": item.filename,
            "width": width,
            "height": height,
            "thumbnail": make_thumbnail(source, self.thumbnail_size),
            "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return _Prepared(point_id_for_bytes(item.data), image, payload)

    def _prepare_all(self, items: list[ImageInput]) -> list[_Prepared]:
        prepared = []
        for position, item in enumerate(items):
            try:
                prepared.append(self._prepare(item))
            except ImageDecodeError as exc:
                name = item.filename or f"image #{position + 1}"
                raise ImageDecodeError(f"{name}: {exc}") from exc
        return prepared

    async def index(
        self, items: Sequence[ImageInput], *, skip_existing: bool = True
    ) -> list[IndexedImage]:
        """Index `items`; already-indexed bytes are skipped (not re-embedded) when asked."""
        ids = [point_id_for_bytes(item.data) for item in items]
        existing = await self.gallery.existing(ids) if skip_existing else set()
        todo = [(i, item) for i, item in enumerate(items) if ids[i] not in existing]
        # Items repeated within one request are embedded once.
        unique: dict[str, ImageInput] = {}
        for i, item in todo:
            unique.setdefault(ids[i], item)
        if unique:
            prepared = await asyncio.to_thread(self._prepare_all, list(unique.values()))
            vectors = await self.embedder.embed_decoded([p.image for p in prepared])
            points = [
                Point(id=p.id, vector=vector, payload=p.payload)
                for p, vector in zip(prepared, vectors, strict=True)
            ]
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
