"""POST /localize: where in a photo each Italian phrase is, as a heatmap and a box."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from sguardo.service.api.checks import check_texts
from sguardo.service.api.deps import ReadAccess, ServicesDep
from sguardo.service.api.errors import ApiError, too_large
from sguardo.service.api.inputs import FILE, body_doc, decode_base64, is_form, parse_body
from sguardo.service.api.schemas import (
    BoxOut,
    LocalizeRequest,
    LocalizeResponse,
    PhraseLocationOut,
)
from sguardo.service.app.services import Services
from sguardo.service.localize.localizer import Localization, Localizer, original_size
from sguardo.service.originals.base import OriginalMissingError

router = APIRouter(tags=["localize"])

_DOC = body_doc(
    LocalizeRequest,
    {
        "image": FILE,
        "id": {"type": "string"},
        "phrases": {"type": "array", "items": {"type": "string"}},
    },
)


class _MultipartLocalize(LocalizeRequest):
    image: None = None  # the file arrives separately


async def _image_bytes(request: Request, services: Services) -> tuple[LocalizeRequest, bytes]:
    limits = services.settings.limits
    multipart = is_form(request)
    body, files = await parse_body(
        request, _MultipartLocalize if multipart else LocalizeRequest, limits
    )
    image = files["image"][0].data if files.get("image") else None
    if image is None and body.image is not None:
        image = decode_base64(body.image, limits, "image")
    given = [name for name, value in (("image", image), ("id", body.id)) if value is not None]
    if len(given) != 1:
        raise ApiError(
            422,
            "validation_error",
            f"give exactly one of image or id to localize in (got {given or 'none'})",
        )
    if image is None:
        # The original, never the thumbnail: boxes in the thumbnail's pixels would not be the
        # photo's, and the smallest windows would be a few blurred pixels.
        point = await services.gallery.get(str(body.id))
        if point is None:
            raise ApiError(404, "not_found", f"no indexed image with id {str(body.id)!r}")
        try:
            image = await asyncio.to_thread(services.originals.get, str(body.id))
        except OriginalMissingError as exc:
            raise ApiError(
                409,
                "original_missing",
                f"{exc}; or send the image itself (base64 'image', or a multipart file)",
            ) from exc
    return body, image


def _phrases(body: LocalizeRequest, services: Services) -> list[str]:
    options, limits = services.settings.localize, services.settings.limits
    phrases = [p.strip() for p in body.phrases]
    if not all(phrases):
        raise ApiError(422, "validation_error", "phrases must not be empty")
    if len(phrases) > options.max_phrases:
        raise too_large(
            f"{len(phrases)} phrases; the limit is {options.max_phrases} "
            "(SGUARDO_LOCALIZE__MAX_PHRASES)"
        )
    check_texts(phrases, limits)
    return phrases


def _present(result: Localization, model_id: str) -> LocalizeResponse:
    return LocalizeResponse(
        model_id=model_id,
        width=result.width,
        height=result.height,
        grid=[result.grid.rows, result.grid.cols],
        crops=result.crops,
        method=result.method,
        dense_maps=result.dense_maps,
        results=[
            PhraseLocationOut(
                phrase=p.phrase,
                heatmap=[[round(float(v), 4) for v in row] for row in p.heatmap],
                box=BoxOut(
                    left=int(p.box.left),
                    top=int(p.box.top),
                    right=int(p.box.right),
                    bottom=int(p.box.bottom),
                ),
                score=round(p.score, 4),
                point=[round(p.point[0], 1), round(p.point[1], 1)],
            )
            for p in result.phrases
        ],
    )


@router.post(
    "/localize",
    response_model=LocalizeResponse,
    dependencies=[ReadAccess],
    openapi_extra=_DOC,
    summary="Where in a photo each Italian phrase is: a heatmap and a box per phrase",
    description=(
        "Embeds square crops of the photo at several scales (fractions of its short side, "
        "`SGUARDO_LOCALIZE__SCALES`, half-overlapping) through the model's own vision tower, "
        "as one batch of at most `SGUARDO_LOCALIZE__MAX_CROPS` (default 256) crops, and "
        "scores each crop against each phrase. For a bundle with a dense vision graph (a CNN "
        "tower), the whole photo also runs at a few sizes (`SGUARDO_LOCALIZE__DENSE_SIDES`) "
        "and every location of its feature map is scored: the heatmap averages both "
        "(`method`: crops+dense). Limits: at most "
        "`SGUARDO_LOCALIZE__MAX_PHRASES` phrases (default 8), the image limits of every "
        "endpoint (bytes, pixels). Works with any bundle; no retraining. An `id` localizes in "
        "the indexed image's kept original (409 `original_missing` for images indexed "
        "before originals were kept)."
    ),
)
async def localize(request: Request, services: ServicesDep) -> LocalizeResponse:
    body, data = await _image_bytes(request, services)
    phrases = _phrases(body, services)
    embedder, options = services.embedder, services.settings.localize
    localizer = Localizer(embedder, options)
    # Admitted for the most crops it may cost, before the decode, so that an overloaded
    # service refuses at once (503) rather than after decoding.
    with embedder.admit_images(options.max_crops):
        image, size = await embedder.decode(
            lambda: (embedder.decode_image(data, min_size=options.max_side), original_size(data))
        )
        result = await localizer.locate(image, phrases, size=size)
    return _present(result, services.bundle.model_id)
