"""The ASGI guards: body bounds as the body streams in, cross-origin writes, browser headers,
and the last-resort 500 (one JSON log line, a JSON body, nothing re-raised)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from sguardo.service.api.middleware import body_limit
from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Limits, Settings

from .conftest import MakeClient, assert_error


def test_each_route_is_bounded_by_what_it_may_legally_carry() -> None:
    limits = Limits(max_items_per_request=4, max_image_bytes=300_000, max_text_chars=200)
    limit = body_limit(limits)
    image = 300_000 * 4 // 3 + 8
    assert limit("POST", "/embed") == limit("POST", "/images") == 4 * (image + 16_000) + 1_000_000
    assert limit("POST", "/search") == limit("POST", "/classify") == image + 1_000_000
    assert limit("GET", "/images/x") == limit("DELETE", "/images/x") == 1_000_000
    # Never more than the whole-body cap.
    assert body_limit(Limits(max_request_bytes=5000))("POST", "/embed") == 5000


def test_a_streamed_body_is_refused_as_soon_as_it_crosses_the_bound(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(limits={"max_image_bytes": 1000}))
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"text": "'
        for _ in range(1000):  # 100 MB if it were all read
            sent += 1
            yield b"x" * 100_000
        yield b'"}'

    async def run() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return await http.post(
                    "/search", content=chunks(), headers={"content-type": "application/json"}
                )

    response = asyncio.run(run())
    assert_error(response, 413, "payload_too_large", "POST /search")
    assert sent < 30, f"{sent} chunks of 100 KB were read before the 413"


def test_cross_origin_writes_are_refused_and_same_origin_or_allowed_ones_pass(
    make_client: MakeClient,
) -> None:
    client = make_client(allowed_origins=["https://foto.example"])
    body = {"texts": ["ciao"]}
    evil = client.post("/embed", json=body, headers={"Origin": "https://evil.example"})
    assert_error(evil, 403, "cross_origin", "SGUARDO_ALLOWED_ORIGINS")
    for origin in ("http://testserver", "https://foto.example", "https://FOTO.example/"):
        assert client.post("/embed", json=body, headers={"Origin": origin}).status_code == 200
    assert client.post("/embed", json=body).status_code == 200  # API clients send no Origin
    # Reads are not writes: a cross-origin GET is the browser's business (no CORS here).
    assert client.get("/healthz", headers={"Origin": "https://evil.example"}).status_code == 200


def test_browser_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self'
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get("/static/app.js").headers["x-frame-options"] == "DENY"
    error = client.get("/images/nope")
    assert error.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in client.get("/docs").headers  # Swagger's CDN


def test_an_unexpected_error_is_one_json_500_and_the_app_keeps_serving(
    make_client: MakeClient, capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_level="ERROR")
    app = client.app

    async def broken() -> None:
        raise RuntimeError("a bug with /secret/path in it")

    app.add_api_route("/boom", broken)  # type: ignore[attr-defined]
    response = client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert_error(response, 500, "internal_error", "quote request id req-42")
    assert "/secret/path" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/healthz").status_code == 200
    lines = capfd.readouterr().err.splitlines()
    assert sum("a bug with /secret/path" in line for line in lines) == 1  # one event, one line
    assert all(json.loads(line) for line in lines)
    metrics = client.get("/metrics").text
    assert 'endpoint="/boom",method="GET",status="500"' in metrics


def test_store_failures_are_503_without_internals(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]

    def failing(*args: object, **kwargs: object) -> None:
        from sguardo.service.store.base import StoreError

        raise StoreError("Embedded vector store: I/O error at /var/lib/secret/shard/segment.bin")

    services.store.search = failing
    response = client.post("/search", json={"text": "gatto"})
    assert_error(response, 503, "store_unavailable", "retry later")
    assert "/var/lib" not in response.text and response.headers["retry-after"] == "5"
