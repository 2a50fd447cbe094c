"""ASGI guards around every request: body bounds, cross-origin writes, browser headers, and the
last-resort 500.

Pure ASGI (not BaseHTTPMiddleware): they stream, and they add no task per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sguardo.service.api.errors import error_response, too_large
from sguardo.service.core.settings import Limits

logger = logging.getLogger("sguardo.api")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SMALL_BODY = 1_000_000  # routes that carry no image: texts, labels, filters, metadata
_MANY_IMAGES = frozenset({"/embed", "/images"})
_ONE_IMAGE = frozenset({"/search", "/classify", "/localize"})


ITEM_FIELDS = 16_000  # per item: filename, metadata, JSON punctuation


def body_limit(limits: Limits) -> Callable[[str, str], int]:
    """The most bytes a request to (method, path) may legally carry: what its items can add
    up to under `limits` (an image in base64, or a text at 6 bytes a character, as JSON escapes),
    and never more than `max_request_bytes`."""
    image = limits.max_image_bytes * 4 // 3 + 8
    item = max(image, 6 * limits.max_text_chars) + ITEM_FIELDS
    many = limits.max_items_per_request * item + SMALL_BODY
    one_image = image + SMALL_BODY  # + labels, templates, filters

    def limit(method: str, path: str) -> int:
        if method == "POST" and path in _MANY_IMAGES:
            return min(many, limits.max_request_bytes)
        if method == "POST" and path in _ONE_IMAGE:
            return min(one_image, limits.max_request_bytes)
        return min(SMALL_BODY, limits.max_request_bytes)

    return limit


class BodyLimitMiddleware:
    """Bounds every request body as it streams in, chunked ones (no Content-Length) included:
    a declared length over the bound is refused before a byte is read, an undeclared one as
    soon as it crosses the bound."""

    def __init__(self, app: ASGIApp, limit: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit(scope["method"], scope["path"])
        message = (
            f"request body is over the limit of {max_bytes} bytes for "
            f"{scope['method']} {scope['path'][:80]} (SGUARDO_LIMITS__MAX_REQUEST_BYTES)"
        )
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > max_bytes:
            await error_response(413, "payload_too_large", message)(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            event = await receive()
            received += len(event.get("body", b""))
            if received > max_bytes:
                raise too_large(message)  # reaches the ApiError handler as a JSON 413
            return event

        await self.app(scope, bounded_receive, send)


class UnexpectedErrorMiddleware:
    """Turns an unhandled exception into one JSON log line and a JSON 500, and swallows it.

    Starlette's own last-resort handler re-raises after answering, so uvicorn logged a second,
    raw traceback and closed the keep-alive connection; nothing reaches uvicorn from here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"][:200])
            if started:  # too late for a 500: the client sees a cut-off response
                return
            request_id = scope.get("state", {}).get("request_id", "")
            response = error_response(
                500, "internal_error", f"unexpected server error; quote request id {request_id}"
            )
            await response(scope, receive, send)


class CrossOriginWriteGuard:
    """Refuses unsafe requests (POST, PUT, PATCH, DELETE) that a browser sends from another
    site: without an API key, any page a user visits could otherwise post forms to /images.

    Browsers always send `Origin` on cross-origin unsafe requests; API clients (curl, httpx,
    `sguardo index --url`) send none and pass. Extra trusted origins: SGUARDO_ALLOWED_ORIGINS.
    """

    def __init__(self, app: ASGIApp, allowed_origins: Collection[str] = ()) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1").strip().rstrip("/").lower()
        if origin and not self._same_origin(origin, headers):
            response = error_response(
                403,
                "cross_origin",
                f"cross-origin {scope['method']} from {origin[:80]!r} refused; "
                "add the origin to SGUARDO_ALLOWED_ORIGINS to allow it",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _same_origin(self, origin: str, headers: dict[bytes, bytes]) -> bool:
        if origin in self.allowed:
            return True
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        # Hosts, not schemes: behind a TLS-terminating proxy the page is https, we see http.
        return bool(host) and urlsplit(origin).netloc == host


PAGE_HEADERS = [
    # The page loads only its own script and styles; images are thumbnails (ours) and the
    # user's own drops (blob:/data:). No framing: clickjacking the upload form.
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeadersMiddleware:
    """`nosniff` on every response (a JSON error or a thumbnail must never be sniffed as
    HTML); the page and its static files also get CSP and frame options. /docs is left
    without CSP: Swagger UI loads from a CDN."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        page = path == "/" or path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if page:
                    headers.extend(PAGE_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
