"""Every error leaves as JSON `{"error": {"code", "message"}}` with a message a user can act on."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.embedding.batching import Overloaded
from sguardo.service.encoders.base import EncoderError
from sguardo.service.indexing.indexer import MetadataError
from sguardo.service.originals.base import (
    OriginalCorruptError,
    OriginalMissingError,
    OriginalsError,
)
from sguardo.service.store.base import (
    CollectionNotFoundError,
    InvalidQueryError,
    ModelMismatchError,
    StoreError,
    StoreUnavailableError,
)

logger = logging.getLogger("sguardo.api")


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


MAX_MESSAGE_CHARS = 1000


def clip(value: object, limit: int = 80) -> str:
    """A bounded repr for echoing inputs in messages: a 100K-character id must not give a
    100 KB error."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    # The backstop for every message: whatever a route echoed, the body stays small.
    body = {"error": {"code": code, "message": clip(message, MAX_MESSAGE_CHARS)}}
    return JSONResponse(body, status_code=status, headers=headers)


def too_large(message: str) -> ApiError:
    return ApiError(413, "payload_too_large", message)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(clip(str(x), 40) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {clip(err.get('msg', 'invalid'), 200)}")
    return "invalid request: " + "; ".join(parts)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        if exc.status in (401, 403, 413):  # refused before any work was done
            request.app.state.metrics.rejected.labels(exc.code).inc()
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        bad_id = next((e for e in exc.errors() if e.get("type", "").startswith("uuid")), None)
        if bad_id is not None:
            return error_response(
                422,
                "invalid_id",
                f"{clip(bad_id.get('input'))!r} is not an image id "
                "(ids are UUIDs from POST /images)",
            )
        return error_response(422, "validation_error", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path (GET /images/{id}
            # hid DELETE): list the methods of every route on this path.
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(ImageDecodeError)
    async def bad_image(_: Request, exc: ImageDecodeError) -> JSONResponse:
        return error_response(422, "invalid_image", f"{exc}. Send a JPEG, PNG or WebP image.")

    @app.exception_handler(MetadataError)
    async def bad_metadata(_: Request, exc: MetadataError) -> JSONResponse:
        return error_response(422, "invalid_metadata", str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return error_response(
            503, "overloaded", str(exc), headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(ModelMismatchError)
    async def mismatch(_: Request, exc: ModelMismatchError) -> JSONResponse:
        return error_response(
            409,
            "model_mismatch",
            f"{exc}. Vectors from different models are not comparable: index into a new "
            "collection and swap the alias, or point SGUARDO_COLLECTION at a matching one.",
        )

    @app.exception_handler(CollectionNotFoundError)
    async def no_collection(_: Request, exc: CollectionNotFoundError) -> JSONResponse:
        return error_response(404, "collection_not_found", str(exc))

    @app.exception_handler(StoreUnavailableError)
    async def store_down(_: Request, exc: StoreUnavailableError) -> JSONResponse:
        return error_response(
            503,
            "store_unavailable",
            f"the vector store is unavailable: {exc}",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(InvalidQueryError)
    async def store_refused(_: Request, exc: InvalidQueryError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc))

    @app.exception_handler(StoreError)
    async def store_failed(request: Request, exc: StoreError) -> JSONResponse:
        # Inputs are validated before they reach the store, so anything else it raises is
        # the store failing (I/O, the engine).
        return _failed_dependency(request, exc, "store_unavailable", "the vector store")

    # 409: the image exists, but not in a state that can serve this request until re-indexed.
    @app.exception_handler(OriginalMissingError)
    async def original_missing(_: Request, exc: OriginalMissingError) -> JSONResponse:
        return error_response(409, "original_missing", str(exc))

    @app.exception_handler(OriginalCorruptError)
    async def original_corrupt(_: Request, exc: OriginalCorruptError) -> JSONResponse:
        return error_response(409, "original_corrupt", str(exc))

    @app.exception_handler(OriginalsError)
    async def originals_failed(request: Request, exc: OriginalsError) -> JSONResponse:
        # I/O on the originals volume.
        return _failed_dependency(
            request, exc, "originals_unavailable", "the store of original images"
        )

    @app.exception_handler(EncoderError)
    async def encoder_error(_: Request, exc: EncoderError) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", 5)
        return error_response(
            503, "encoder_unavailable", str(exc), headers={"Retry-After": str(retry_after)}
        )


def _failed_dependency(request: Request, exc: Exception, code: str, what: str) -> JSONResponse:
    """A dependency that failed on this request: logged in full, answered 503 without its
    internals (engines' and file systems' messages name files and paths)."""
    logger.error("%s failed on %s %s: %s", what, request.method, request.url.path, exc)
    return error_response(
        503,
        code,
        f"{what} failed on this request; retry later, and quote request id "
        f"{getattr(request.state, 'request_id', '')} if it persists",
        headers={"Retry-After": "5"},
    )


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document declares for this path (FastAPI's included routers
    are not plain Starlette routes, so the document is the public map of them)."""
    methods: set[str] = set()
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        regex, _, _ = compile_path(template)
        if regex.match(path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
