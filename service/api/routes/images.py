"""POST /images (index), GET /images/{id}, GET /images/{id}/thumbnail, DELETE /images/{id}."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
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

router = APIRouter(prefix="/images", tags=["images"])


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


@router.delete("/{image_id}", response_model=DeletedImage, dependencies=[WriteAccess])
async def delete_image(image_id: UUID, services: ServicesDep) -> DeletedImage:
    if await services.gallery.delete([str(image_id)]) == 0:
        raise ApiError(404, "not_found", f"no indexed image with id {image_id!r}")
    return DeletedImage(id=image_id, deleted=True)
