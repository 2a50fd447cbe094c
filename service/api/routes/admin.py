"""The /admin endpoints of a model rollout: reload, reindex into a new bundle's collection, swap.

All need `Authorization: Bearer $SGUARDO_ADMIN_TOKEN` and are off without it. The nightly
pipeline uses them when it cannot open the store itself (the embedded store admits one
process); the order is reindex → verify (inside reindex) → swap → promote in the registry, and
the service switches when the registry and the alias agree.
"""

from __future__ import annotations

import asyncio
import dataclasses

from fastapi import APIRouter

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import BundleError
from sguardo.service.api.deps import AdminAccess, ServicesDep
from sguardo.service.api.errors import ApiError
from sguardo.service.api.schemas import ReindexRequest, ReloadOut, SwapOut, SwapRequest
from sguardo.service.app.reindex_job import ReindexBusyError, ReindexStatus, resolve_bundle
from sguardo.service.app.reload import ReloadResult
from sguardo.service.app.services import Services
from sguardo.service.store.base import CollectionNotFoundError

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminAccess])


def _reload_out(result: ReloadResult) -> ReloadOut:
    return ReloadOut(bundle_id=result.bundle_id, changed=result.changed, pending=result.pending)


async def _check(services: Services) -> ReloadOut:
    assert services.reloader is not None
    return _reload_out(await services.reloader.check(retry_failed=True))


@router.post("/reload", response_model=ReloadOut, summary="Follow the registry and alias now")
async def reload(services: ServicesDep) -> ReloadOut:
    """Switch to the registry's current bundle if the alias points at its collection (what the
    watch does every `reload_poll_s`); a bundle that failed to load is tried again."""
    return await _check(services)


@router.post(
    "/reindex",
    response_model=ReindexStatus,
    status_code=202,
    summary="Build a bundle's collection from the originals",
)
async def start_reindex(body: ReindexRequest, services: ServicesDep) -> ReindexStatus:
    """Load the bundle (kept warm for the switch), create its collection next to the alias's,
    re-embed every original into it and verify the counts. Runs in the background: poll
    `GET /admin/reindex`. Running it again for the same bundle resumes."""
    alias = services.settings.collection
    if body.alias is not None and body.alias != alias:
        raise ApiError(
            422,
            "validation_error",
            f"this service serves the alias {alias!r}, not {body.alias!r}: a reindex builds the "
            "collection the service will switch to, so it must be for its own alias",
        )
    directory = resolve_bundle(body.bundle, services.settings.registry_path)
    try:
        bundle = await asyncio.to_thread(Bundle.load, directory)
    except (BundleError, OSError) as exc:
        raise ApiError(422, "invalid_bundle", f"cannot load bundle {body.bundle!r}: {exc}") from exc
    assert services.reindex is not None
    try:
        status = services.reindex.start(bundle)
    except ReindexBusyError as exc:
        raise ApiError(409, "reindex_running", str(exc)) from exc
    return status.model_copy()


@router.get("/reindex", response_model=ReindexStatus, summary="The reindex run's state")
async def reindex_status(services: ServicesDep) -> ReindexStatus:
    assert services.reindex is not None
    return services.reindex.status.model_copy()


@router.post("/swap", response_model=SwapOut, summary="Point the alias at a collection")
async def swap(body: SwapRequest, services: ServicesDep) -> SwapOut:
    """Atomically re-point the alias, after checking that the collection holds every point
    the alias's does (unless `force`); then look for a reload at once."""
    from sguardo.service.indexing.reindex import ReindexMismatchError, verify_collection

    alias = body.alias or services.settings.collection
    store = services.store
    try:
        previous = (await asyncio.to_thread(store.info, alias)).collection
    except CollectionNotFoundError:
        previous = None
    verified = None
    try:
        if previous is not None and previous != body.collection and not body.force:
            report = await asyncio.to_thread(verify_collection, store, alias, body.collection)
            verified = dataclasses.asdict(report)
        await asyncio.to_thread(store.swap_alias, alias, body.collection)
    except ReindexMismatchError as exc:
        raise ApiError(409, "collection_incomplete", str(exc)) from exc
    # Other store errors: the app's handlers (a dim or model mismatch is a 409 there).
    return SwapOut(
        alias=alias,
        collection=body.collection,
        previous=previous,
        verified=verified,
        reload=await _check(services),
    )
