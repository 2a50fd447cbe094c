"""The FastAPI app: `create_app(settings)`. Start-up preloads the bundle, encoders and store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sguardo.service.api.errors import install_error_handlers
from sguardo.service.api.main import api_router
from sguardo.service.api.middleware import (
    BodyLimitMiddleware,
    CrossOriginWriteGuard,
    SecurityHeadersMiddleware,
    UnexpectedErrorMiddleware,
    body_limit,
)
from sguardo.service.api.openapi import install_openapi
from sguardo.service.app.services import Services, build_services, service_version
from sguardo.service.core.logs import RequestIdMiddleware, configure_logging
from sguardo.service.core.memory import return_freed_memory
from sguardo.service.core.metrics import Metrics, MetricsMiddleware
from sguardo.service.core.settings import Settings
from sguardo.service.indexing.demo_gallery import seed_if_empty
from sguardo.service.store.base import StoreError
from sguardo.service.web.routes import mount_web

logger = logging.getLogger("sguardo")


async def seed_demo_gallery(services: Services) -> None:
    """Index the demo photos into an empty collection before the first request is served."""
    try:
        await seed_if_empty(services.gallery, services.indexer)
    except StoreError as exc:  # e.g. the collection belongs to another bundle
        logger.warning("demo gallery not indexed: %s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    return_freed_memory()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, metrics)
        app.state.services = services
        if settings.demo_gallery:
            await seed_demo_gallery(services)
        watch = None
        if settings.reload_poll_s > 0 and services.reloader is not None:
            watch = asyncio.create_task(services.reloader.watch(settings.reload_poll_s))
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
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
    install_openapi(app, settings)
    # Added innermost first: a request passes RequestId, Metrics, SecurityHeaders,
    # CrossOriginWriteGuard, BodyLimit, then UnexpectedError around the routes (so a 500 is
    # logged with its request id and counted by the metrics).
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=body_limit(settings.limits))
    app.add_middleware(CrossOriginWriteGuard, allowed_origins=settings.allowed_origins)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
