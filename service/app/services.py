"""Everything the API needs, built once at start-up and closed at shutdown."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import metadata

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import BundleError
from sguardo.service.app.reindex_job import ReindexJob
from sguardo.service.app.reload import ModelReloader
from sguardo.service.app.serving_model import ServingModel, open_serving_model
from sguardo.service.core.metrics import Metrics
from sguardo.service.core.settings import Settings
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.base import Encoder, EncoderError
from sguardo.service.encoders.factory import open_encoder
from sguardo.service.indexing.indexer import ImageIndexer
from sguardo.service.originals.base import OriginalStore
from sguardo.service.originals.filesystem import FilesystemOriginals
from sguardo.service.store.base import StoreError, VectorStore
from sguardo.service.store.factory import open_store
from sguardo.service.store.gallery import Gallery

logger = logging.getLogger("sguardo")


class StartupError(RuntimeError):
    """The service cannot start; the message says what to fix."""


def service_version() -> str:
    try:
        return metadata.version("sguardo")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(eq=False)
class Services:
    """The process-wide parts (settings, metrics, store, originals) and the serving model.

    `model` is replaced by a hot reload; a request works on `lease()`'s copy, whose model
    cannot change under it. The `bundle`, `embedder`, ... properties read that model.
    """

    settings: Settings
    metrics: Metrics
    store: VectorStore
    originals: OriginalStore
    model: ServingModel
    reloader: ModelReloader | None = None
    reindex: ReindexJob | None = None

    @property
    def bundle(self) -> Bundle:
        return self.model.bundle

    @property
    def encoder(self) -> Encoder:
        return self.model.encoder

    @property
    def embedder(self) -> Embedder:
        return self.model.embedder

    @property
    def gallery(self) -> Gallery:
        return self.model.gallery

    @property
    def indexer(self) -> ImageIndexer:
        return self.model.indexer

    @contextmanager
    def lease(self) -> Iterator[Services]:
        """These services with the model serving now, held until the request is done."""
        with self.model.lease() as model:
            yield replace(self, model=model)

    def record_model_info(self) -> None:
        info = self.encoder.info
        self.metrics.model_info.clear()
        self.metrics.model_info.labels(
            self.bundle.bundle_id,
            self.bundle.model_id,
            self.settings.precision,
            info.backend,
            info.providers_label,
        ).set(1)

    async def close(self) -> None:
        if self.reindex is not None:
            await self.reindex.close()
        if self.reloader is not None:
            await self.reloader.close()
        await self.model.close()
        self.store.close()


def open_configured_store(settings: Settings) -> VectorStore:
    return open_store(
        settings.store_kind,
        path=settings.store_path,
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key,
        prefer_grpc=settings.qdrant_prefer_grpc,
    )


async def build_services(settings: Settings, metrics: Metrics) -> Services:
    """Load the bundle, the encoder and the store; start the batchers."""
    try:
        # Resolved once: a registry's `current` link may be swapped while we load, and the
        # manifest and the ONNX files must come from the same bundle.
        bundle = Bundle.load(settings.bundle_path.resolve())
        encoder = open_encoder(settings, bundle)
    except (BundleError, EncoderError) as exc:
        raise StartupError(f"cannot start: {exc}") from exc
    try:
        store = open_configured_store(settings)
    except StoreError as exc:
        encoder.close()
        raise StartupError(f"cannot open the {settings.store_kind} vector store: {exc}") from exc
    originals = FilesystemOriginals(settings.originals_path)
    model = open_serving_model(settings, metrics, bundle, encoder, store, originals)
    try:
        await model.gallery.ensure()
    except StoreError as exc:
        # Embedding still works; store endpoints answer 409/503 and /readyz says why.
        logger.error("collection %r is not usable yet: %s", settings.collection, exc)
    try:
        # First inferences before traffic (sessions' arenas, the dense graph's session), as a
        # reloaded model gets: the first request should not pay for them.
        await model.warm_up()
    except EncoderError as exc:
        logger.error("warm-up failed; the first requests will say why: %s", exc)
    services = Services(settings, metrics, store, originals, model)
    services.reloader = ModelReloader(services)
    services.reindex = ReindexJob(services)
    services.record_model_info()
    info = encoder.info
    logger.info(
        "serving bundle %s (%s, %s on %s), collection %r (%s)",
        bundle.bundle_id,
        settings.precision,
        info.backend,
        info.providers_label,
        settings.collection,
        model.gallery.collection,
    )
    return services
