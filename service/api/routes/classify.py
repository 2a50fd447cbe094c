"""POST /classify: zero-shot labels for an image from Italian candidates and templates."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sguardo.bundle.scoring import bundle_logit_scale
from sguardo.service.api.checks import check_texts
from sguardo.service.api.deps import ReadAccess, ServicesDep
from sguardo.service.api.errors import ApiError, too_large
from sguardo.service.api.inputs import FILE, body_doc, decode_base64, is_form, parse_body
from sguardo.service.api.schemas import ClassifyRequest, ClassifyResponse, LabelScoreOut
from sguardo.service.embedding.classify import check_templates, classify, default_templates

router = APIRouter(tags=["classify"])

_STRINGS = {"type": "array", "items": {"type": "string"}}
_DOC = body_doc(ClassifyRequest, {"image": FILE, "labels": _STRINGS, "templates": _STRINGS})


class _MultipartClassify(ClassifyRequest):
    image: None = None  # type: ignore[assignment]  # the file arrives separately


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    dependencies=[ReadAccess],
    openapi_extra=_DOC,
    summary="Zero-shot classification of an image among Italian labels",
)
async def classify_image(request: Request, services: ServicesDep) -> ClassifyResponse:
    limits = services.settings.limits
    multipart = is_form(request)
    body, files = await parse_body(
        request, _MultipartClassify if multipart else ClassifyRequest, limits
    )
    if multipart:
        if not files.get("image"):
            raise ApiError(422, "validation_error", "send the image file in the 'image' field")
        image = files["image"][0].data
    else:
        image = decode_base64(str(body.image), limits, "image")
    labels = list(dict.fromkeys(label.strip() for label in body.labels if label.strip()))
    if not labels:
        raise ApiError(422, "validation_error", "labels must contain at least one non-empty label")
    if len(labels) > limits.max_labels:
        raise too_large(
            f"{len(labels)} labels; the limit is {limits.max_labels} (SGUARDO_LIMITS__MAX_LABELS)"
        )
    templates = body.templates or list(default_templates())
    try:
        check_templates(templates)
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from exc
    prompts = len(labels) * len(templates)
    if prompts > services.settings.max_queue:
        raise too_large(f"{prompts} prompts (labels × templates) exceed the queue; send fewer")
    check_texts(labels + templates, limits)
    scores = await classify(
        services.embedder,
        image,
        labels,
        templates,
        logit_scale=bundle_logit_scale(services.bundle.manifest),
    )
    return ClassifyResponse(
        model_id=services.bundle.model_id,
        templates=templates,
        labels=[
            LabelScoreOut(label=s.label, score=s.score, similarity=s.similarity) for s in scores
        ],
    )
