"""POST /images (index), GET /images/{id}, GET /images/{id}/thumbnail,
GET /images/{id}/original, DELETE /images/{id}."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from PIL import Image
from pydantic import Field

from sguardo.service.api.checks import check_count
from sguardo.service.api.deps import ReadAccess, ServicesDep, WriteAccess
from sguardo.service.api.errors import ApiError
from sguardo.service.api.inputs import FILES, body_doc, decode_base64, is_form, parse_body
from sguardo.service.api.presenters import public_payload, thumbnail_url
from sguardo.service.api.schemas import (
    DeletedImage,
    ImageItem,
    ImageRecord,
    IndexedImageOut,
    IndexImagesRequest,
    IndexImagesResponse,
)
from sguardo.service.indexing.indexer import ImageInput, MetadataError
from sguardo.service.originals.base import OriginalsError

router = APIRouter(prefix="/images", tags=["images"])
logger = logging.getLogger("sguardo.api")


class _MultipartIndex(IndexImagesRequest):
    images: list[ImageItem] = Field(default_factory=list)  # files arrive separately
    metadata: Any = None


_DOC = body_doc(
    IndexImagesRequest,
    {
        "images": FILES,
        "metadata": {
            "type": "string",
            "description": "JSON: one object for every file, or a list with one per file",
        },
    },
)


def _multipart_metadata(metadata: Any, count: int) -> list[Any]:
    if metadata is None:
        return [{}] * count
    if isinstance(metadata, list):
        if len(metadata) != count:
            raise MetadataError(f"metadata lists {len(metadata)} objects for {count} files")
        return metadata
    return [metadata] * count


@router.post(
    "",
    response_model=IndexImagesResponse,
    dependencies=[WriteAccess],
    openapi_extra=_DOC,
    summary="Index one or many images with metadata (idempotent: ids derive from the bytes)",
)
async def index_images(request: Request, services: ServicesDep) -> IndexImagesResponse:
    limits = services.settings.limits
    if is_form(request):
        form, files = await parse_body(request, _MultipartIndex, limits, json_fields=("metadata",))
        uploads = files.get("images", [])
        if not uploads:
            raise ApiError(422, "validation_error", "send image files in the 'images' field")
        check_count(len(uploads), limits, "images")
        metadata = _multipart_metadata(form.metadata, len(uploads))
        items = [
            ImageInput(u.data, u.filename, meta) for u, meta in zip(uploads, metadata, strict=True)
        ]
    else:
        body, _ = await parse_body(request, IndexImagesRequest, limits)
        check_count(len(body.images), limits, "images")
        items = [
            ImageInput(decode_base64(x.image, limits, f"images[{i}].image"), x.filename, x.metadata)
            for i, x in enumerate(body.images)
        ]
    indexed = await services.indexer.index(items)
    created = sum(x.created for x in indexed)
    return IndexImagesResponse(
        collection=services.gallery.alias,
        bundle_id=services.bundle.bundle_id,
        created=created,
        existing=len(indexed) - created,
        images=[
            IndexedImageOut(id=UUID(x.id), filename=x.filename, created=x.created) for x in indexed
        ],
    )


# Path ids are UUIDs in any of the forms uuid.UUID reads (upper case, braces, urn:uuid:);
# responses and URLs always carry the canonical form.
async def _get_payload(services: ServicesDep, image_id: str) -> dict[str, Any]:
    point = await services.gallery.get(image_id)
    if point is None:
        raise ApiError(404, "not_found", f"no indexed image with id {image_id!r}")
    return dict(point.payload)


@router.get("/{image_id}", response_model=ImageRecord, dependencies=[ReadAccess])
async def get_image(image_id: UUID, services: ServicesDep) -> ImageRecord:
    payload = await _get_payload(services, str(image_id))
    return ImageRecord(
        id=image_id, payload=public_payload(payload), thumbnail_url=thumbnail_url(str(image_id))
    )


@router.get(
    "/{image_id}/thumbnail",
    dependencies=[ReadAccess],
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def get_thumbnail(image_id: UUID, services: ServicesDep) -> Response:
    payload = await _get_payload(services, str(image_id))
    try:
        data = base64.b64decode(payload.get("thumbnail") or "", validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise ApiError(404, "not_found", f"image {image_id!r} has no stored thumbnail")
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"}
    )


def media_type(data: bytes) -> str:
    """The type the bytes really are (Pillow reads the header only), never the upload's
    claim: every original was decoded by Pillow when it was indexed."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return Image.MIME.get(image.format or "", "application/octet-stream")
    except Exception:
        return "application/octet-stream"


@router.get(
    "/{image_id}/original",
    dependencies=[ReadAccess],
    response_class=Response,
    # Whatever format Pillow decoded when it was indexed (JPEG, PNG, WebP, GIF, ...).
    responses={200: {"content": {"image/*": {}, "application/octet-stream": {}}}},
    summary="The indexed image's original bytes (409 `original_missing` for images indexed "
    "before originals were kept)",
)
async def get_original(image_id: UUID, services: ServicesDep) -> Response:
    # The gallery first: an original whose point was deleted is not served.
    await _get_payload(services, str(image_id))
    data = await asyncio.to_thread(services.originals.get, str(image_id))
    return Response(
        data, media_type=media_type(data), headers={"Cache-Control": "private, max-age=86400"}
    )


@router.delete("/{image_id}", response_model=DeletedImage, dependencies=[WriteAccess])
async def delete_image(image_id: UUID, services: ServicesDep) -> DeletedImage:
    deleted = await services.gallery.delete([str(image_id)])
    # After the point, so a point never outlives its original; removed even when the point
    # was already gone (an original left behind by an interrupted index).
    try:
        await asyncio.to_thread(services.originals.delete, str(image_id))
    except OriginalsError as exc:
        if deleted:
            # The image is gone from search; a leftover file is only disk space.
            logger.error("image %s deleted, but its original was not: %s", image_id, exc)
        else:
            raise
    if deleted == 0:
        raise ApiError(404, "not_found", f"no indexed image with id {image_id!r}")
    return DeletedImage(id=image_id, deleted=True)
