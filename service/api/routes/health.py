"""GET /healthz, /readyz, /version and /metrics: for orchestrators and dashboards."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sguardo.service.api.deps import ServicesDep
from sguardo.service.api.schemas import EncoderOut, Health, Readiness, VersionInfo
from sguardo.service.app.services import service_version
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
    services = getattr(request.app.state, "services", None)
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
    ready = all(checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks, detail=detail)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


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
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
