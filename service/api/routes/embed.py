"""POST /embed: Italian texts and/or images → unit vectors, with the model that made them."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter, Request

from sguardo.service.api.checks import check_count, check_texts
from sguardo.service.api.deps import ReadAccess, ServicesDep
from sguardo.service.api.errors import ApiError
from sguardo.service.api.inputs import FILES, body_doc, decode_base64, parse_body
from sguardo.service.api.schemas import EmbedRequest, EmbedResponse

router = APIRouter(tags=["embed"])

_DOC = body_doc(
    EmbedRequest,
    {"texts": {"type": "array", "items": {"type": "string"}}, "images": FILES},
)


async def _none() -> np.ndarray | None:
    return None


@router.post(
    "/embed",
    response_model=EmbedResponse,
    dependencies=[ReadAccess],
    openapi_extra=_DOC,
    summary="Embed Italian texts and/or images",
)
async def embed(request: Request, services: ServicesDep) -> EmbedResponse:
    limits = services.settings.limits
    body, files = await parse_body(request, EmbedRequest, limits)
    images = [decode_base64(b64, limits, f"images[{i}]") for i, b64 in enumerate(body.images)]
    images += [upload.data for upload in files.get("images", [])]
    check_count(len(body.texts) + len(images), limits)
    check_texts(body.texts, limits)
    if not body.texts and not images:
        raise ApiError(422, "validation_error", "send at least one text or image to embed")
    embedder = services.embedder
    text_vectors, image_vectors = await asyncio.gather(
        embedder.embed_texts(body.texts) if body.texts else _none(),
        embedder.embed_images(images) if images else _none(),
    )
    return EmbedResponse(
        model_id=services.bundle.model_id,
        bundle_id=services.bundle.bundle_id,
        dim=embedder.dim,
        text_vectors=text_vectors.tolist() if text_vectors is not None else [],
        image_vectors=image_vectors.tolist() if image_vectors is not None else [],
    )
