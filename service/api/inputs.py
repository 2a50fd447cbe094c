"""One body, two encodings: JSON with base64 images, or multipart with image files.

Routes read the request themselves (FastAPI cannot dispatch one path on content type),
validate it with the same pydantic model either way, and document both in OpenAPI.
"""

from __future__ import annotations

import base64
import binascii
import json
import types
from dataclasses import dataclass
from typing import Any, TypeVar, Union, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from sguardo.service.api.errors import ApiError, too_large
from sguardo.service.core.settings import Limits

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in FORM_TYPES


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list(arg) for arg in get_args(annotation))
    return get_origin(annotation) is list


def decode_base64(value: str, limits: Limits, where: str) -> bytes:
    if len(value) > limits.max_image_bytes * 4 // 3 + 8:
        raise too_large(f"{where} is larger than {limits.max_image_bytes} bytes")
    if value.startswith("data:") and "," in value:  # data URLs from browsers
        value = value.split(",", 1)[1]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "invalid_base64", f"{where} is not valid base64: {exc}") from exc
    check_image_size(data, limits, where)
    return data


def check_image_size(data: bytes, limits: Limits, where: str) -> None:
    if len(data) > limits.max_image_bytes:
        raise too_large(
            f"{where} is {len(data)} bytes; the limit is {limits.max_image_bytes} "
            "(SGUARDO_LIMITS__MAX_IMAGE_BYTES)"
        )
    if not data:
        raise ApiError(422, "invalid_image", f"{where} is empty")


def _validate(model: type[M], raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc


async def parse_body(
    request: Request, model: type[M], limits: Limits, *, json_fields: tuple[str, ...] = ()
) -> tuple[M, dict[str, list[Upload]]]:
    """Validate a JSON or multipart body into `model`; multipart files come back separately.

    In multipart, `json_fields` hold JSON text (e.g. filters) and list fields repeat.
    """
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limits.max_request_bytes:
        raise too_large(f"request body is {length} bytes; the limit is {limits.max_request_bytes}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            raw = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc
        return _validate(model, raw), {}
    if content_type not in FORM_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send application/json (images as base64) or multipart/form-data (image files)",
        )
    try:
        form = await request.form(max_files=limits.max_items_per_request, max_fields=1000)
    except HTTPException as exc:
        if "Too many" in str(exc.detail):
            raise too_large(f"{exc.detail} (SGUARDO_LIMITS__MAX_ITEMS_PER_REQUEST)") from exc
        raise ApiError(
            400, "invalid_multipart", f"unreadable multipart body: {exc.detail}"
        ) from exc
    fields: dict[str, Any] = {}
    files: dict[str, list[Upload]] = {}
    for key in form:
        values = form.getlist(key)
        uploads = [v for v in values if isinstance(v, UploadFile)]
        if uploads:
            files[key] = []
            for upload in uploads:
                data = await upload.read()
                name = upload.filename or ""
                check_image_size(data, limits, f"file {name!r}")
                files[key].append(Upload(data, name))
            continue
        texts = [str(v) for v in values]
        if key in json_fields:
            try:
                parsed = [json.loads(t) for t in texts]
            except json.JSONDecodeError as exc:
                raise ApiError(
                    422, "invalid_json", f"form field {key!r} must be JSON: {exc}"
                ) from exc
            fields[key] = parsed if len(parsed) > 1 else parsed[0]
            continue
        field = model.model_fields.get(key)
        fields[key] = texts if field is not None and _is_list(field.annotation) else texts[-1]
    return _validate(model, fields), files


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline_refs(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(v, defs) for v in schema]
    return schema


def body_doc(model: type[BaseModel], multipart: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a body that is JSON (`model`) or multipart (`multipart` properties)."""
    schema = model.model_json_schema()
    json_schema = _inline_refs(schema, schema.get("$defs", {}))
    form_schema = {"type": "object", "properties": multipart}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema},
                "multipart/form-data": {"schema": form_schema},
            },
        }
    }


FILE = {"type": "string", "format": "binary"}
FILES = {"type": "array", "items": FILE}
