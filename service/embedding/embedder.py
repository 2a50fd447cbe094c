"""Text and image embedding through the per-tower batchers: what every endpoint calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from PIL import Image

from sguardo.bundle.loader import Bundle
from sguardo.bundle.preprocessing import ImagePreprocessor, TextTokenizer
from sguardo.bundle.tensors import ATTENTION_MASK, INPUT_IDS
from sguardo.service.core.metrics import Metrics
from sguardo.service.embedding.batching import DynamicBatcher, plan_length_groups
from sguardo.service.encoders.base import Encoder

R = TypeVar("R")

# An engine call's fixed cost, in tokens of work: what splitting a batch into length groups
# must save in padding to pay for each extra call. Measured on the demo text tower (ONNX Runtime,
# 2 CPU cores): a 1-row call costs about as much as 20-30 more tokens in a batch.
GROUP_OVERHEAD_TOKENS = 24.0


# What the service decodes: the common photo formats, not every decoder PIL carries (EPS
# would run Ghostscript; PSD, ICNS, ... are attack surface no user of a photo search needs).
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF")


class Embedder:
    """Owns the tokenizer, the image preprocessor, the decode threads and one batcher per tower.

    Images are admitted before they are decoded: the vision queue's bound counts the items
    waiting to decode as well as those waiting for inference, so an overloaded service refuses
    at once (503) instead of after the expensive decode, and decoded pixels wait for at most
    `decode_threads` images at a time.
    """

    def __init__(
        self,
        bundle: Bundle,
        encoder: Encoder,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        max_image_pixels: int = 40_000_000,
        max_decoded_bytes: int | None = None,
        decode_threads: int = 2,
        group_overhead_tokens: float | None = GROUP_OVERHEAD_TOKENS,
        metrics: Metrics | None = None,
    ) -> None:
        self.bundle = bundle
        self.encoder = encoder
        self.tokenizer: TextTokenizer = bundle.tokenizer()
        self.preprocessor = ImagePreprocessor(
            bundle.manifest.image,
            max_pixels=max_image_pixels,
            max_decoded_bytes=max_decoded_bytes,
            formats=ACCEPTED_FORMATS,
        )
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
        self.decode_threads = decode_threads
        # None: one engine call per batch, padded to its longest text.
        self.group_overhead_tokens = group_overhead_tokens
        self._decoding: ThreadPoolExecutor | None = None
        self._images_admitted = 0  # decoding, queued or in inference

    @property
    def dim(self) -> int:
        return self.bundle.manifest.embedding_dim

    @property
    def images_admitted(self) -> int:
        return self._images_admitted

    def start(self) -> None:
        if self._decoding is None:
            self._decoding = ThreadPoolExecutor(self.decode_threads, "sguardo-decode")
        self.text_batcher.start()
        self.image_batcher.start()

    async def stop(self) -> None:
        await self.text_batcher.stop()
        await self.image_batcher.stop()
        if self._decoding is not None:
            self._decoding.shutdown(wait=False)
            self._decoding = None

    # Run in the batcher's worker thread, once per batch.
    def _encode_text_batch(self, texts: list[str]) -> np.ndarray:
        """One batch of texts, run as groups of similar length so that a short caption is not
        padded to the longest one of the batch (padding is compute the engine throws away).
        Each row depends only on its own text: padding is masked, so grouping changes no
        vector beyond float rounding."""
        tokens = self.tokenizer(texts)  # right-padded to the longest text of this batch
        ids, mask = tokens[INPUT_IDS], tokens[ATTENTION_MASK]
        if self.group_overhead_tokens is None or len(texts) == 1:
            return self.encoder.encode_text(ids, mask)
        lengths = mask.sum(axis=1).tolist()
        groups = plan_length_groups(lengths, self.group_overhead_tokens)
        if len(groups) == 1:
            return self.encoder.encode_text(ids, mask)
        out: np.ndarray | None = None
        for rows in groups:
            longest = max(lengths[i] for i in rows)
            # Right padding: cutting the columns gives what tokenising the group alone would.
            vectors = self.encoder.encode_text(ids[rows, :longest], mask[rows, :longest])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=vectors.dtype)
            out[rows] = vectors
        assert out is not None
        return out

    def _encode_image_batch(self, arrays: list[np.ndarray]) -> np.ndarray:
        return self.encoder.encode_images(np.stack(arrays))

    async def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return await self.text_batcher.submit(list(texts))

    @contextmanager
    def admit_images(self, count: int) -> Iterator[None]:
        """Hold `count` places in the vision queue from before decoding until the rows are
        back; raises Overloaded (503 + Retry-After) at once when there is no room."""
        if self._images_admitted + count > self.image_batcher.max_queue:
            raise self.image_batcher.overloaded(waiting=self._images_admitted)
        self._images_admitted += count
        try:
            yield
        finally:
            self._images_admitted -= count

    async def decode(self, work: Callable[[], R]) -> R:
        """Run decoding work on the decode threads (bounded: decoded pixels are memory)."""
        if self._decoding is None:
            raise RuntimeError("the embedder is not started")
        return await asyncio.get_running_loop().run_in_executor(self._decoding, work)

    def decode_image(self, data: bytes, min_size: int | None = None) -> Image.Image:
        """Bounded decode (pixels and decoded bytes, bombs refused, JPEG draft); raises
        ImageDecodeError."""
        return self.preprocessor.decode(data, min_size=min_size)

    async def embed_arrays(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Preprocessed images (see `preprocessor.to_array`); admit them first."""
        return await self.image_batcher.submit(list(arrays))

    async def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        """Admit, decode and preprocess on the decode threads, then batch with other callers.
        Each image's pixels are dropped as soon as its (3, crop, crop) array exists."""
        with self.admit_images(len(images)):
            arrays = await self.decode(lambda: [self.preprocessor(data) for data in images])
            return await self.image_batcher.submit(arrays)

    # Unbatched reference path: what tests compare the batched rows against.
    def embed_texts_unbatched(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode_text_batch(list(texts))

    def embed_images_unbatched(self, images: Sequence[bytes]) -> np.ndarray:
        return self._encode_image_batch([self.preprocessor(data) for data in images])
