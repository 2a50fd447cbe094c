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

from sguardo.service.api.errors import ApiError, clip, too_large
from sguardo.service.api.json_tree import MAX_DEPTH, check_json_tree
from sguardo.service.core.settings import Limits

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FILENAME_CHARS = 1000  # as ImageItem.filename


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
    # The body's size is bounded as it streams in (BodyLimitMiddleware).
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = parse_json(await request.body(), "the body")
        check_json_tree(raw)
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
                if len(name) > MAX_FILENAME_CHARS:
                    raise ApiError(
                        422,
                        "validation_error",
                        f"file name {clip(name, 40)!r} is longer than {MAX_FILENAME_CHARS} "
                        "characters",
                    )
                check_image_size(data, limits, f"file {clip(name, 80)!r}")
                files[key].append(Upload(data, name))
            continue
        texts = [str(v) for v in values]
        if key in json_fields:
            parsed = [parse_json(t, f"form field {clip(key, 40)!r}", status=422) for t in texts]
            fields[key] = parsed if len(parsed) > 1 else parsed[0]
            continue
        field = model.model_fields.get(key)
        fields[key] = texts if field is not None and _is_list(field.annotation) else texts[-1]
    check_json_tree(fields)
    return _validate(model, fields), files


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(data: bytes | str, what: str, status: int = 400) -> Any:
    """Strict JSON: no NaN/Infinity (Python's parser takes them), bounded nesting."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(
            status, "invalid_json", f"{what} is nested too deeply (limit {MAX_DEPTH} levels)"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ApiError(
            status, "invalid_json", f"{what} is not valid JSON: {clip(str(exc), 200)}"
        ) from exc


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
