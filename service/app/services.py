"""Everything the API needs, built once at start-up and closed at shutdown."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import BundleError
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


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    bundle: Bundle
    encoder: Encoder
    embedder: Embedder
    store: VectorStore
    gallery: Gallery
    originals: OriginalStore
    indexer: ImageIndexer

    async def close(self) -> None:
        await self.embedder.stop()
        self.encoder.close()
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
    embedder = Embedder(
        bundle,
        encoder,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        max_image_pixels=settings.limits.max_image_pixels,
        max_decoded_bytes=settings.limits.max_decoded_bytes,
        decode_threads=settings.decode_threads,
        metrics=metrics,
    )
    embedder.start()
    gallery = Gallery(
        store, settings.collection, bundle.bundle_id, bundle.manifest.embedding_dim, metrics
    )
    try:
        await gallery.ensure()
    except StoreError as exc:
        # Embedding still works; store endpoints answer 409/503 and /readyz says why.
        logger.error("collection %r is not usable yet: %s", settings.collection, exc)
    info = encoder.info
    metrics.model_info.labels(
        bundle.bundle_id, bundle.model_id, settings.precision, info.backend, info.providers_label
    ).set(1)
    logger.info(
        "serving bundle %s (%s, %s on %s), collection %r",
        bundle.bundle_id,
        settings.precision,
        info.backend,
        info.providers_label,
        settings.collection,
    )
    originals = FilesystemOriginals(settings.originals_path)
    indexer = ImageIndexer(
        embedder, gallery, originals=originals, thumbnail_size=settings.thumbnail_size
    )
    return Services(
        settings, metrics, bundle, encoder, embedder, store, gallery, originals, indexer
    )
