"""The OpenAPI document as the contract it should be: every error status an operation can
answer, with the one error body, and security only where a key is really asked for.

Done once over the generated document, not route by route: the statuses come from what the
shared layers do (body limits, JSON parsing, auth, the store, the queue), so one table says it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from sguardo.service.api.schemas import ErrorBody
from sguardo.service.core.settings import Settings

_DESCRIPTIONS = {
    400: "Unreadable body: not JSON, or a broken multipart body",
    401: "An API key is needed (X-API-Key or Authorization: Bearer); on /admin, the admin token",
    403: "The API key (on /admin: the admin token) is wrong or the admin endpoints are off, or "
    "a browser sent this from another origin",
    404: "No such image, or no collection yet",
    409: "The collection was built by another model bundle, or the image's original is not "
    "kept (indexed before originals were: re-index it) or is damaged; on /admin, a reindex "
    "is running already or the collection does not hold every point of the alias's",
    413: "Over a limit: body bytes, items, image bytes or pixels, text length, labels",
    415: "Send application/json or multipart/form-data",
    422: "Invalid input; the message names the field",
    500: "A bug: the message quotes the request id to report",
    503: "Overloaded (queue full), or the encoder, vector store or originals store is "
    "unavailable; see Retry-After",
}
_ALWAYS = {413, 500}  # any request can carry a body over its bound; any route can have a bug
_BODY = {400, 415, 422}
_STORE = {404, 409, 503}
# (method, path) -> statuses beyond _ALWAYS, and whether it writes (key needed if one is set).
_OPERATIONS: dict[tuple[str, str], tuple[set[int], bool]] = {
    ("post", "/embed"): (_BODY | {403, 503}, False),
    ("post", "/search"): (_BODY | _STORE | {403}, False),
    ("post", "/images"): (_BODY | _STORE | {403}, True),
    ("get", "/images/{image_id}"): (_STORE | {422}, False),
    ("get", "/images/{image_id}/thumbnail"): (_STORE | {422}, False),
    ("get", "/images/{image_id}/original"): (_STORE | {422}, False),
    ("delete", "/images/{image_id}"): (_STORE | {403, 422}, True),
    ("post", "/classify"): (_BODY | {403, 503}, False),
    ("post", "/localize"): (_BODY | _STORE | {403}, False),
    ("get", "/version"): ({503}, False),
}
_ADMIN = {401, 403}  # always: the admin token is needed, and without one set they are off
_ADMIN_OPERATIONS: dict[tuple[str, str], set[int]] = {
    ("post", "/admin/reload"): {503},
    ("post", "/admin/reindex"): _BODY | {409},
    ("get", "/admin/reindex"): set(),
    ("post", "/admin/swap"): _BODY | _STORE,
}


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def build_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    # FastAPI's own 422 body is not what this service answers.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    keyed = bool(settings.api_key)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            statuses, writes = _OPERATIONS.get((method, path), (set(), False))
            protected = keyed and (writes or settings.protect_reads) and "security" in operation
            if (method, path) in _ADMIN_OPERATIONS:
                statuses, protected = _ADMIN_OPERATIONS[(method, path)] | _ADMIN, True
            statuses = statuses | _ALWAYS | ({401, 403} if protected else set())
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses | ({422} if "422" in responses else set())):
                if str(status) not in responses or status == 422:
                    responses[str(status)] = _error_response(status)
            if not protected:
                operation.pop("security", None)
    if not keyed:  # only the admin endpoints' bearer token remains
        schemes = components.get("securitySchemes", {})
        for name in [n for n, v in schemes.items() if v.get("scheme") != "bearer"]:
            schemes.pop(name)
    return schema


def install_openapi(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
