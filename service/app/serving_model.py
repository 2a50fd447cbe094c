"""One bundle's serving stack: encoder, batchers, pinned collection and indexer.

Everything a request touches that depends on the model lives here, so that a request takes all
of it from the same bundle (`Services.lease`): its query is embedded and searched by one model
even while a new one is being switched in. A replaced model is closed only after the requests
that leased it have finished (`close_when_idle`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from sguardo.bundle.loader import Bundle
from sguardo.service.core.metrics import Metrics
from sguardo.service.core.settings import Settings
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.base import Encoder, dense_encoder
from sguardo.service.indexing.indexer import ImageIndexer
from sguardo.service.originals.base import OriginalStore
from sguardo.service.store.base import VectorStore
from sguardo.service.store.gallery import Gallery

logger = logging.getLogger("sguardo")


@dataclass(eq=False)
class ServingModel:
    bundle: Bundle
    encoder: Encoder
    embedder: Embedder
    gallery: Gallery
    indexer: ImageIndexer
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    _leases: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False

    @property
    def directory(self) -> Path:
        return self.bundle.directory

    @contextmanager
    def lease(self) -> Iterator[ServingModel]:
        """Hold this model for one request: it is not closed until every lease is returned."""
        self._leases += 1
        self._idle.clear()
        try:
            yield self
        finally:
            self._leases -= 1
            if self._leases == 0:
                self._idle.set()

    @property
    def leases(self) -> int:
        return self._leases

    async def close_when_idle(self, timeout_s: float = 300.0) -> None:
        """Wait for in-flight requests (bounded: a stuck client must not pin the old model's
        memory forever), then stop the batchers and release the encoder."""
        if self._leases:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout_s)
            except TimeoutError:
                logger.warning(
                    "closing bundle %s with %d requests still in flight after %.0f s",
                    self.bundle.bundle_id,
                    self._leases,
                    timeout_s,
                )
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.embedder.stop()
        self.encoder.close()

    async def warm_up(self) -> None:
        """First inferences before traffic: sessions allocate their arenas, a TensorRT engine is
        built (minutes, cached on disk), a remote backend is reached."""
        await self.embedder.embed_texts(["una foto di un gatto"])
        # Pixels, not bytes: the request limits (SGUARDO_LIMITS__MAX_IMAGE_PIXELS may be set
        # below any photo) must not refuse the warm-up, nor fail a start or a reload.
        preprocessor = self.embedder.preprocessor
        image = Image.new("RGB", (256, 192), (120, 140, 160))
        await self.embedder.embed_arrays(
            await self.embedder.decode(lambda: [preprocessor.to_array(image)])
        )
        dense = dense_encoder(self.embedder.encoder)
        if dense is not None:  # /localize's third session: its first run is slow too
            pixels = np.zeros((1, 3, 64, 64), dtype=np.float32)
            await self.embedder.decode(lambda: dense.encode_dense(pixels))


def open_serving_model(
    settings: Settings,
    metrics: Metrics,
    bundle: Bundle,
    encoder: Encoder,
    store: VectorStore,
    originals: OriginalStore,
    *,
    collection: str | None = None,
) -> ServingModel:
    """Start the batchers for `bundle` over its opened `encoder` (see `open_encoder`; slow, so
    open it off the event loop) — on the loop's thread: the batchers' tasks start here.
    `collection`: pin to this physical collection instead of the alias's (a model being
    rolled out)."""
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
        store,
        settings.collection,
        bundle.bundle_id,
        bundle.manifest.embedding_dim,
        metrics,
        collection=collection,
    )
    indexer = ImageIndexer(
        embedder, gallery, originals=originals, thumbnail_size=settings.thumbnail_size
    )
    return ServingModel(bundle, encoder, embedder, gallery, indexer)
