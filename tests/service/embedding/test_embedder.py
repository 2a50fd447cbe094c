"""The embedder's admission of images: the vision queue's bound counts images waiting to decode,
so an overloaded service refuses at once, before the expensive decode (issue 14, item 6)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sguardo.bundle.loader import Bundle
from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.core.metrics import Metrics
from sguardo.service.embedding.batching import Overloaded
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder


@pytest.fixture(scope="module")
def parts(tiny_bundle_dir: Path) -> tuple[Bundle, OnnxRuntimeEncoder]:
    bundle = Bundle.load(tiny_bundle_dir)
    return bundle, OnnxRuntimeEncoder(bundle, intra_op_threads=1)


@pytest.fixture(scope="module")
def jpegs(shared_data: Path) -> list[bytes]:
    paths = sorted((shared_data / "imagenet-sample-it" / "images").glob("*.jpg"))[:4]
    return [p.read_bytes() for p in paths]


def test_images_waiting_to_decode_count_against_the_queue_and_refusal_is_immediate(
    parts: tuple[Bundle, OnnxRuntimeEncoder], jpegs: list[bytes]
) -> None:
    bundle, encoder = parts
    metrics = Metrics()
    embedder = Embedder(bundle, encoder, max_queue=3, decode_threads=1, metrics=metrics)
    release = threading.Event()
    decoded: list[int] = []
    decode = embedder.preprocessor.__call__

    def slow_decode(data: bytes) -> np.ndarray:
        decoded.append(len(data))
        release.wait(10)  # a decode that takes long: the queue fills up behind it
        return decode(data)

    embedder.preprocessor = type(  # type: ignore[assignment]
        "Slow", (), {"__call__": staticmethod(slow_decode)}
    )()

    async def run() -> tuple[float, list[np.ndarray]]:
        embedder.start()
        try:
            waiting = [asyncio.create_task(embedder.embed_images([x])) for x in jpegs[:3]]
            await asyncio.sleep(0.05)
            assert embedder.images_admitted == 3
            started = time.perf_counter()
            with pytest.raises(Overloaded) as refused:
                await embedder.embed_images([jpegs[3]])
            elapsed = time.perf_counter() - started
            assert refused.value.retry_after >= 1
            release.set()
            return elapsed, list(await asyncio.gather(*waiting))
        finally:
            await embedder.stop()

    elapsed, rows = asyncio.run(run())
    assert elapsed < 0.05, "refused at once, not after a decode"
    assert len(decoded) == 3, "the refused image was never decoded"
    assert all(r.shape == (1, bundle.manifest.embedding_dim) for r in rows)
    assert embedder.images_admitted == 0
    rejected = metrics.registry.get_sample_value(
        "sguardo_rejected_requests_total", {"reason": "vision_queue_full"}
    )
    assert rejected == 1


def test_a_decode_error_gives_back_its_places(
    parts: tuple[Bundle, OnnxRuntimeEncoder], jpegs: list[bytes]
) -> None:
    bundle, encoder = parts
    embedder = Embedder(bundle, encoder, max_queue=2)

    async def run() -> None:
        embedder.start()
        try:
            for _ in range(3):
                with pytest.raises(ImageDecodeError):
                    await embedder.embed_images([jpegs[0], b"not an image"])
            assert embedder.images_admitted == 0
            assert (await embedder.embed_images(jpegs[:2])).shape[0] == 2
        finally:
            await embedder.stop()

    asyncio.run(run())


def test_decoded_bytes_count_mode_and_bit_depth(parts: tuple[Bundle, OnnxRuntimeEncoder]) -> None:
    import io

    from PIL import Image

    bundle, encoder = parts
    embedder = Embedder(bundle, encoder, max_image_pixels=10**9, max_decoded_bytes=1_000_000)

    def png(mode: str, side: int) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (side, side)).convert(mode).save(buffer, format="PNG")
        return buffer.getvalue()

    # 1,000,000 bytes: RGB 3 a pixel (577² fits), RGBA 4 + 3 for the RGB copy (377² fits).
    assert embedder.decode_image(png("RGB", 577)).size == (577, 577)
    assert embedder.decode_image(png("RGBA", 377)).mode == "RGB"
    for mode, side in (("RGB", 578), ("RGBA", 378), ("I;16", 448), ("L", 501)):
        with pytest.raises(ImageDecodeError, match=f"{mode}: decoding it takes"):
            embedder.decode_image(png(mode, side))
