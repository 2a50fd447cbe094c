"""The FastAPI app: `create_app(settings)`. Start-up preloads the bundle, encoders and store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.errors import BodyLimitMiddleware, install_error_handlers
from service.api.main import api_router
from service.logging import RequestIdMiddleware, configure_logging
from service.metrics import Metrics, MetricsMiddleware
from service.services import build_services, service_version
from service.settings import Settings
from service.web.routes import mount_web


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = await build_services(settings, metrics)
        try:
            yield
        finally:
            await app.state.services.close()

    app = FastAPI(
        title="Sguardo",
        description="Italian image–text search with an Italian CLIP.",
        version=service_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(api_router)
    mount_web(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
