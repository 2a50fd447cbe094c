"""GET /healthz, /readyz, /version and /metrics: for orchestrators and dashboards."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sguardo.service.api.deps import ServicesDep
from sguardo.service.api.schemas import EncoderOut, Health, Readiness, VersionInfo
from sguardo.service.app.services import Services, service_version
from sguardo.service.core.metrics import Metrics
from sguardo.service.store.base import StoreError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness}},
    summary="Bundle loaded and vector store reachable",
)
async def readyz(request: Request) -> JSONResponse:
    body = await readiness(getattr(request.app.state, "services", None))
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503)


async def readiness(services: Services | None) -> Readiness:
    checks = {"bundle": services is not None, "store": False, "collection": False}
    detail: dict[str, str] = {}
    if services is not None:
        checks["store"] = await services.gallery.healthy()
        if not checks["store"]:
            detail["store"] = "the vector store does not answer"
        else:
            try:
                await services.gallery.ensure()
                checks["collection"] = True
            except StoreError as exc:
                detail["collection"] = str(exc)
        # A remote encoder (Triton) may be away; it reconnects by itself.
        checks["encoder"] = bool(getattr(services.encoder, "ready", True))
        if not checks["encoder"]:
            detail["encoder"] = "the encoder backend is not reachable yet; reconnecting"
        # Not a failing check: while a rollout waits for the registry and the alias to agree,
        # the service answers from the bundle and collection it serves, which do match.
        pending = services.reloader.pending if services.reloader is not None else None
        if pending:
            detail["rollout"] = pending
    ready = all(checks.values())
    return Readiness(status="ready" if ready else "not_ready", checks=checks, detail=detail)


@router.get("/version", response_model=VersionInfo, summary="Service, bundle and collection")
async def version(services: ServicesDep) -> VersionInfo:
    info = services.encoder.info
    settings = services.settings
    return VersionInfo(
        service_version=service_version(),
        model_id=services.bundle.model_id,
        bundle_id=services.bundle.bundle_id,
        embedding_dim=services.bundle.manifest.embedding_dim,
        precision=settings.precision,
        collection=settings.collection,
        physical_collection=services.gallery.collection,
        loaded_at=services.model.loaded_at,
        pending=services.reloader.pending if services.reloader is not None else None,
        encoder=EncoderOut(
            backend=info.backend,
            active_providers=info.active_providers,
            requested_providers=info.requested_providers,
        ),
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
    )


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    await refresh_state_gauges(getattr(request.app.state, "services", None), metrics)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def refresh_state_gauges(services: Services | None, metrics: Metrics) -> None:
    """Readiness and the collection (size, building bundle) as of this scrape: alerts on them
    (not ready, index shrunk, model/collection mismatch) must not read a start-up snapshot."""
    metrics.ready.set(1 if (await readiness(services)).status == "ready" else 0)
    info = None
    if services is not None:
        with contextlib.suppress(StoreError):  # no collection (yet): no collection series
            info = await services.gallery.describe()
    metrics.record_collection(info)
