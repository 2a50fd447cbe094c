"""A localizer outside the service (the CLI, the benchmark): the bundle through the same
encoder and embedder code the service runs, without a vector store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from PIL import Image

from sguardo.bundle.loader import Bundle
from sguardo.service.core.settings import Settings
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.factory import open_encoder
from sguardo.service.localize.localizer import Localization, Localizer, original_size


@asynccontextmanager
async def standalone_localizer(settings: Settings) -> AsyncIterator[Localizer]:
    """Raises BundleError or EncoderError when the bundle cannot be loaded."""
    bundle = Bundle.load(settings.bundle_path)
    encoder = open_encoder(settings, bundle)
    embedder = Embedder(
        bundle,
        encoder,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queue=max(settings.max_queue, settings.localize.max_crops),
        max_image_pixels=settings.limits.max_image_pixels,
    )
    embedder.start()
    try:
        yield Localizer(embedder, settings.localize)
    finally:
        await embedder.stop()
        encoder.close()


async def locate_file(
    localizer: Localizer, path: Path, phrases: list[str]
) -> tuple[Image.Image, Localization]:
    """Decode `path` as the service decodes uploads, then locate; raises ImageDecodeError."""
    data = path.read_bytes()
    embedder = localizer.embedder
    image = embedder.decode_image(data, min_size=localizer.options.max_side)
    return image, await localizer.locate(image, phrases, size=original_size(data))
