"""Text and image embedding through the per-tower batchers: what every endpoint calls."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
from PIL import Image

from sguardo.bundle.loader import Bundle
from sguardo.bundle.preprocessing import ImagePreprocessor, TextTokenizer
from sguardo.bundle.tensors import ATTENTION_MASK, INPUT_IDS
from sguardo.service.core.metrics import Metrics
from sguardo.service.embedding.batching import DynamicBatcher
from sguardo.service.encoders.base import Encoder


class Embedder:
    """Owns the tokenizer, the image preprocessor and one batcher per tower."""

    def __init__(
        self,
        bundle: Bundle,
        encoder: Encoder,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        max_image_pixels: int = 40_000_000,
        metrics: Metrics | None = None,
    ) -> None:
        self.bundle = bundle
        self.encoder = encoder
        self.tokenizer: TextTokenizer = bundle.tokenizer()
        self.preprocessor: ImagePreprocessor = bundle.image_preprocessor(max_image_pixels)
        batching = {
            "max_batch_size": max_batch_size,
            "max_wait_ms": max_wait_ms,
            "max_queue": max_queue,
            "metrics": metrics,
        }
        self.text_batcher: DynamicBatcher[str] = DynamicBatcher(
            "text",
            self._encode_text_batch,
            **batching,  # type: ignore[arg-type]
        )
        self.image_batcher: DynamicBatcher[np.ndarray] = DynamicBatcher(
            "vision",
            self._encode_image_batch,
            **batching,  # type: ignore[arg-type]
        )

    @property
    def dim(self) -> int:
        return self.bundle.manifest.embedding_dim

    def start(self) -> None:
        self.text_batcher.start()
        self.image_batcher.start()

    async def stop(self) -> None:
        await self.text_batcher.stop()
        await self.image_batcher.stop()

    # Run in the batcher's worker thread, once per batch.
    def _encode_text_batch(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts)  # padded to the longest text of this batch
        return self.encoder.encode_text(tokens[INPUT_IDS], tokens[ATTENTION_MASK])

    def _encode_image_batch(self, arrays: list[np.ndarray]) -> np.ndarray:
        return self.encoder.encode_images(np.stack(arrays))

    async def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return await self.text_batcher.submit(list(texts))

    def decode_image(self, data: bytes) -> Image.Image:
        """Bounded decode (pixel limit, bombs refused, JPEG draft); raises ImageDecodeError."""
        return self.preprocessor.decode(data)

    async def embed_decoded(self, images: Sequence[Image.Image]) -> np.ndarray:
        arrays = await asyncio.to_thread(lambda: [self.preprocessor.to_array(i) for i in images])
        return await self.image_batcher.submit(arrays)

    async def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        """Decode and preprocess off the event loop, then batch with other callers."""
        arrays = await asyncio.to_thread(lambda: [self.preprocessor(data) for data in images])
        return await self.image_batcher.submit(arrays)

    # Unbatched reference path: what tests compare the batched rows against.
    def embed_texts_unbatched(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode_text_batch(list(texts))

    def embed_images_unbatched(self, images: Sequence[bytes]) -> np.ndarray:
        return self._encode_image_batch([self.preprocessor(data) for data in images])
