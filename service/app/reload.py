"""Hot reload: follow the registry's current bundle and the collection alias, switch models with
no failed request.

The service serves bundle B once both facts hold: `SGUARDO_BUNDLE_PATH` (the registry's
`current` link) resolves to B, and the alias points at B's collection (`<alias>__<hash of B>`).
The rollout sets them in that order or the other; in between, the service keeps serving the
old model against the old collection (its gallery is pinned to it), so every request is
embedded and searched by one model. A candidate is loaded and warmed up (first inferences:
arenas allocated, a TensorRT engine built) before it takes traffic; requests already running
finish on the old model, which is closed when they are done. Writes that reached the old
collection during the rollout are then copied over (`catch_up`).

Triggers: a watch task (every `reload_poll_s`) and `POST /admin/reload`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import BundleError
from sguardo.service.app.serving_model import ServingModel, open_serving_model
from sguardo.service.encoders.base import EncoderError
from sguardo.service.encoders.factory import open_encoder
from sguardo.service.store.aliased import collection_name
from sguardo.service.store.base import CollectionNotFoundError, StoreError

if TYPE_CHECKING:
    from sguardo.service.app.services import Services

logger = logging.getLogger("sguardo")


@dataclass(frozen=True)
class ReloadResult:
    bundle_id: str  # the bundle serving after the check
    changed: bool  # this check switched models
    pending: str | None  # why a newer bundle or alias target is not served yet


class ModelReloader:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = asyncio.Lock()
        # Loaded and warm, waiting for the registry and the alias (one at most: a newer
        # candidate replaces it, once its own in-flight work is done).
        self._candidate: ServingModel | None = None
        self._failed: dict[Path, str] = {}  # bundles that would not load: not retried by the watch
        self._tasks: set[asyncio.Task[None]] = set()
        self.pending: str | None = None

    # --- triggers ------------------------------------------------------------------------
    async def check(self, *, retry_failed: bool = False) -> ReloadResult:
        """Look at the registry and the alias now; switch models if both point at a new one."""
        async with self._lock:
            if retry_failed:
                self._failed.clear()
            result = await self._check()
        metrics = self._services.metrics
        metrics.reload_pending.set(1 if result.pending else 0)
        return result

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check()
            except Exception:  # the watch must outlive one bad check (a store hiccup)
                logger.exception("model reload check failed")

    async def candidate(self, directory: Path) -> ServingModel:
        """The loaded, warm model of the bundle in `directory`, pinned to its own collection.
        Kept for the switch: a model reindexed by the admin endpoint is switched in without
        loading it twice."""
        if self._services.settings.encoder_backend == "triton":
            raise EncoderError(
                "a service on the Triton backend cannot load another bundle (the server runs "
                "the graphs): reindex with `sguardo collection reindex`, which runs the bundle's "
                "own graphs in ONNX Runtime"
            )
        async with self._lock:
            return await self._load_candidate(directory.resolve())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._drop_candidate()

    # --- the decision --------------------------------------------------------------------
    async def _check(self) -> ReloadResult:
        services = self._services
        active = services.model
        alias = services.settings.collection
        desired = await asyncio.to_thread(services.settings.bundle_path.resolve)
        pointed = await self._alias_target(alias)
        if desired == active.directory.resolve():
            served = active.gallery.collection
            self.pending = None
            if pointed is not None and served is not None and pointed != served:
                self.pending = (
                    f"the alias {alias!r} points at {pointed!r}, which bundle "
                    f"{active.bundle.bundle_id} (current in the registry) did not build; "
                    f"answering from {served!r} until the registry and the alias agree"
                )
            return ReloadResult(active.bundle.bundle_id, False, self.pending)
        if services.settings.encoder_backend == "triton":
            # The graphs run in the Triton server, which this process cannot ask which bundle
            # they came from: switching tokenizer and bundle id alone would mix two models.
            self.pending = (
                f"bundle {desired.name} is current in the registry, but a service on the Triton "
                "backend is not hot-reloaded (it cannot tell which bundle the server runs): load "
                "the new model repository into Triton and restart the service"
            )
            return ReloadResult(active.bundle.bundle_id, False, self.pending)
        if desired in self._failed:
            self.pending = self._failed[desired]
            return ReloadResult(active.bundle.bundle_id, False, self.pending)
        try:
            candidate = await self._load_candidate(desired)
        except (BundleError, EncoderError, OSError) as exc:
            self._failed[desired] = f"cannot load the current bundle {desired}: {exc}"
            services.metrics.reloads.labels("failed").inc()
            logger.error("%s; still serving %s", self._failed[desired], active.bundle.bundle_id)
            self.pending = self._failed[desired]
            return ReloadResult(active.bundle.bundle_id, False, self.pending)
        expected = candidate.gallery.collection
        try:
            await candidate.gallery.ensure()  # it exists and records this bundle
        except StoreError as exc:
            self.pending = (
                f"bundle {candidate.bundle.bundle_id} is current in the registry but its "
                f"collection is not usable ({exc}); reindex it (`sguardo collection reindex`) "
                "or roll back"
            )
            return ReloadResult(active.bundle.bundle_id, False, self.pending)
        if pointed != expected:
            self.pending = (
                f"bundle {candidate.bundle.bundle_id} is current in the registry but the alias "
                f"{alias!r} points at {pointed!r}, not at its collection {expected!r}: it is "
                "loaded and warm, and takes over when the alias is swapped"
            )
            return ReloadResult(active.bundle.bundle_id, False, self.pending)
        self._switch(candidate)
        self.pending = None
        return ReloadResult(candidate.bundle.bundle_id, True, None)

    async def _alias_target(self, alias: str) -> str | None:
        try:
            info = await asyncio.to_thread(self._services.store.info, alias)
        except CollectionNotFoundError:
            return None
        return info.collection

    # --- loading and switching -----------------------------------------------------------
    async def _load_candidate(self, directory: Path) -> ServingModel:
        if self._candidate is not None and self._candidate.directory.resolve() == directory:
            return self._candidate
        await self._drop_candidate()
        services = self._services
        settings = services.settings
        bundle = await asyncio.to_thread(Bundle.load, directory)  # verifies every file's hash
        encoder = await asyncio.to_thread(open_encoder, settings, bundle)
        model = open_serving_model(
            settings,
            services.metrics,
            bundle,
            encoder,
            services.store,
            services.originals,
            collection=collection_name(settings.collection, bundle.bundle_id),
        )
        try:
            await model.warm_up()
        except BaseException:
            await model.close()
            raise
        logger.info("bundle %s loaded and warm (%s)", bundle.bundle_id, directory)
        self._candidate = model
        return model

    async def _drop_candidate(self) -> None:
        candidate, self._candidate = self._candidate, None
        if candidate is not None:
            await candidate.close_when_idle()

    def _switch(self, new: ServingModel) -> None:
        services = self._services
        old = services.model
        services.model = new  # requests leased from here on get the new model
        self._candidate = None
        services.metrics.reloads.labels("switched").inc()
        services.record_model_info()
        logger.info(
            "switched from bundle %s (%s) to %s (%s); %d requests finishing on the old one",
            old.bundle.bundle_id,
            old.gallery.collection,
            new.bundle.bundle_id,
            new.gallery.collection,
            old.leases,
        )
        self._spawn(self._retire(old, new))

    async def _retire(self, old: ServingModel, new: ServingModel) -> None:
        await old.close_when_idle()
        source, target = old.gallery.collection, new.gallery.collection
        if source is None or target is None or source == target:
            return
        from sguardo.service.indexing.reindex import catch_up

        try:
            report = await catch_up(
                embedder=new.embedder,
                store=self._services.store,
                originals=self._services.originals,
                source=source,
                target=target,
            )
        except Exception:
            logger.exception("catching up writes from %s into %s failed", source, target)
            return
        logger.info("caught up %s into %s: %s", source, target, report)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
