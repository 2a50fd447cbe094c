"""POST /search: by Italian text, by an image, or by the id of an indexed image."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import numpy as np
from fastapi import APIRouter, Request

from sguardo.service.api.checks import check_texts
from sguardo.service.api.deps import ReadAccess, ServicesDep
from sguardo.service.api.errors import ApiError
from sguardo.service.api.inputs import FILE, body_doc, decode_base64, is_form, parse_body
from sguardo.service.api.presenters import public_payload, thumbnail_url
from sguardo.service.api.schemas import SearchHit, SearchRequest, SearchResponse

router = APIRouter(tags=["search"])

_DOC = body_doc(
    SearchRequest,
    {
        "text": {"type": "string"},
        "image": FILE,
        "id": {"type": "string"},
        "top_k": {"type": "integer", "default": 10},
        "filters": {"type": "string", "description": 'JSON object, e.g. {"album": "mare"}'},
        "score_threshold": {"type": "number"},
    },
)


class _MultipartSearch(SearchRequest):
    image: None = None  # the file arrives separately


@router.post(
    "/search",
    response_model=SearchResponse,
    dependencies=[ReadAccess],
    openapi_extra=_DOC,
    summary="Search the gallery by text, image or image id",
)
async def search(request: Request, services: ServicesDep) -> SearchResponse:
    limits = services.settings.limits
    multipart = is_form(request)
    model = _MultipartSearch if multipart else SearchRequest
    body, files = await parse_body(request, model, limits, json_fields=("filters",))
    image: bytes | None = None
    if files.get("image"):
        image = files["image"][0].data
    elif body.image is not None:
        image = decode_base64(body.image, limits, "image")
    given = [name for name, v in (("text", body.text), ("image", image), ("id", body.id)) if v]
    if len(given) != 1:
        raise ApiError(
            422,
            "validation_error",
            f"give exactly one of text, image or id to search by (got {given or 'none'})",
        )
    query: Literal["text", "image", "id"]
    exclude = None
    if body.text:
        check_texts([body.text], limits)
        vector = (await services.embedder.embed_texts([body.text]))[0]
        query = "text"
    elif image is not None:
        vector = (await services.embedder.embed_images([image]))[0]
        query = "image"
    else:
        point = await services.gallery.get(str(body.id), with_vector=True)
        if point is None:
            raise ApiError(404, "not_found", f"no indexed image with id {str(body.id)!r}")
        vector, exclude, query = np.asarray(point.vector, dtype=np.float32), point.id, "id"
    # "More like this" leaves out the query image itself.
    top_k = body.top_k + (1 if exclude else 0)
    hits = await services.gallery.search(
        vector, top_k=top_k, filters=body.filters, score_threshold=body.score_threshold
    )
    hits = [h for h in hits if h.id != exclude][: body.top_k]
    return SearchResponse(
        model_id=services.bundle.model_id,
        bundle_id=services.bundle.bundle_id,
        collection=services.gallery.alias,
        query=query,
        hits=[
            SearchHit(
                id=UUID(h.id),
                score=h.score,
                payload=public_payload(dict(h.payload)),
                thumbnail_url=thumbnail_url(h.id),
            )
            for h in hits
        ],
    )
