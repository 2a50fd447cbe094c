"""Every error leaves as JSON `{"error": {"code", "message"}}` with a message a user can act on."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.embedding.batching import Overloaded
from sguardo.service.encoders.base import EncoderError
from sguardo.service.indexing.indexer import MetadataError
from sguardo.service.store.base import (
    CollectionNotFoundError,
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


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def too_large(message: str) -> ApiError:
    return ApiError(413, "payload_too_large", message)


class BodyLimitMiddleware:
    """Bounds every request body, chunked ones (no Content-Length) included, with a JSON 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body is over the limit of {self.max_bytes} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            response = error_response(413, "payload_too_large", message)
            await response(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            event = await receive()
            received += len(event.get("body", b""))
            if received > self.max_bytes:
                raise too_large(message)  # reaches the ApiError handler as a JSON 413
            return event

        await self.app(scope, bounded_receive, send)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
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
        return error_response(422, "validation_error", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

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

    @app.exception_handler(StoreError)
    async def store_refused(_: Request, exc: StoreError) -> JSONResponse:
        # The store's own errors are about what was asked (a filter it cannot run, an id).
        return error_response(422, "invalid_request", str(exc))

    @app.exception_handler(EncoderError)
    async def encoder_error(_: Request, exc: EncoderError) -> JSONResponse:
        return error_response(503, "encoder_unavailable", str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        request_id = getattr(request.state, "request_id", "")
        return error_response(
            500, "internal_error", f"unexpected server error; quote request id {request_id}"
        )
