"""The localizer end to end on a real Embedder and batcher, with an encoder that sees colour:
a red square must be found where it is, whatever the image size, in one batch of crops."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from sguardo.bundle.loader import Bundle
from sguardo.service.core.settings import LocalizeSettings
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.base import EncoderInfo
from sguardo.service.localize.localizer import (
    Localizer,
    original_size,
    plan_windows,
    working_copy,
)
from sguardo.service.localize.windows import Box


class RednessEncoder:
    """Image rows: [share of red pixels, share of others]; the phrase 'rosso' is [1, 0]."""

    info = EncoderInfo("fake")
    ready = True

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.batches: list[int] = []

    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        self.batches.append(len(pixel_values))
        red = (pixel_values[:, 0] > pixel_values[:, 2] + 0.5).mean(axis=(1, 2))
        rows = np.zeros((len(pixel_values), self.dim), dtype=np.float32)
        rows[:, 0], rows[:, 1] = red + 1e-3, 1 - red + 1e-3
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def encode_text(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        raise AssertionError("texts are embedded by the patched embed_texts")

    def close(self) -> None: ...


class DenseRednessEncoder(RednessEncoder):
    """Also a dense graph: [red share, other share] of the 32 × 32 pixels around each
    location (i, j), centred on pixel (32i, 32j) as a real stride-32 CNN's are, unnormalised."""

    has_dense = True

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.dense_shapes: list[tuple[int, ...]] = []

    def encode_dense(self, pixel_values: np.ndarray) -> np.ndarray:
        self.dense_shapes.append(pixel_values.shape)
        _, _, height, width = pixel_values.shape
        red = pixel_values[0, 0] > pixel_values[0, 2] + 0.5
        rows, cols = -(-height // 32), -(-width // 32)
        out = np.zeros((1, rows, cols, self.dim), dtype=np.float32)
        for r in range(rows):
            for c in range(cols):
                top, left = max(r * 32 - 16, 0), max(c * 32 - 16, 0)
                share = red[top : r * 32 + 16, left : c * 32 + 16].mean()
                out[0, r, c, :2] = share, 1 - share
        return out


OPTIONS = LocalizeSettings(scales=[0.2, 0.3, 0.4], grid_cells=30)


def run_with(
    bundle_dir: Path,
    test: Callable[[Localizer], Awaitable[None]],
    encoder_type: type[RednessEncoder] = RednessEncoder,
    options: LocalizeSettings = OPTIONS,
) -> None:
    """Run `test` with a started localizer on a real Embedder (the tests have no async plugin)."""
    asyncio.run(_run_with(bundle_dir, test, encoder_type, options))


async def _run_with(
    bundle_dir: Path,
    test: Callable[[Localizer], Awaitable[None]],
    encoder_type: type[RednessEncoder],
    options: LocalizeSettings,
) -> None:
    bundle = Bundle.load(bundle_dir)
    encoder = encoder_type(bundle.manifest.embedding_dim)
    embedder = Embedder(bundle, encoder, max_batch_size=512, max_wait_ms=1)

    async def embed_texts(texts: Sequence[str]) -> np.ndarray:
        rows = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i, 0 if text == "rosso" else 1] = 1
        return rows

    embedder.embed_texts = embed_texts  # type: ignore[method-assign]
    embedder.start()
    try:
        await test(Localizer(embedder, options))
    finally:
        await embedder.stop()


def _photo(width: int, height: int, square: tuple[int, int, int, int]) -> Image.Image:
    image = Image.new("RGB", (width, height), (120, 120, 120))
    image.paste((230, 20, 20), square)
    return image


def test_the_red_square_is_found_in_one_batch(tiny_bundle_dir: Path) -> None:
    run_with(tiny_bundle_dir, _red_square_in_one_batch)


async def _red_square_in_one_batch(localizer: Localizer) -> None:
    square = (200, 120, 280, 190)
    result = await localizer.locate(_photo(300, 200, square), ["rosso", "qualcosa"])
    assert (result.width, result.height) == (300, 200)
    assert (result.grid.rows, result.grid.cols) == (20, 30)
    encoder = localizer.embedder.encoder
    assert isinstance(encoder, RednessEncoder)
    assert encoder.batches == [result.crops]  # one request's crops: one batch
    red = result.phrases[0]
    assert red.heatmap.shape == (20, 30)
    assert red.heatmap.min() >= 0 and red.heatmap.max() == 1
    x, y = red.point
    assert square[0] <= x <= square[2] and square[1] <= y <= square[3]
    box = red.box
    assert box.left < square[2] and box.right > square[0]
    assert box.top < square[3] and box.bottom > square[1]
    assert 0.5 < red.score <= 1
    assert (result.method, result.dense_maps) == ("crops", 0)


def test_a_dense_encoder_adds_the_feature_map_at_every_size(tiny_bundle_dir: Path) -> None:
    run_with(tiny_bundle_dir, _red_square_with_a_dense_map, DenseRednessEncoder)


async def _red_square_with_a_dense_map(localizer: Localizer) -> None:
    square = (200, 120, 280, 190)
    result = await localizer.locate(_photo(300, 200, square), ["rosso", "qualcosa"])
    encoder = localizer.embedder.encoder
    assert isinstance(encoder, DenseRednessEncoder)
    assert (result.method, result.dense_maps) == ("crops+dense", 8)
    # the whole photo at short sides 384-768 (long side within max_side 1024), each mirrored
    assert encoder.dense_shapes[::2] == [(1, 3, s, s * 3 // 2) for s in (384, 512, 640)] + [
        (1, 3, 683, 1024)
    ]
    assert encoder.batches == [result.crops]  # the crops are still one batch
    red = result.phrases[0]
    assert red.heatmap.shape == (20, 30) and red.heatmap.max() == 1
    x, y = red.point
    assert square[0] <= x <= square[2] and square[1] <= y <= square[3]


def test_no_dense_sides_means_crops_alone(tiny_bundle_dir: Path) -> None:
    options = OPTIONS.model_copy(update={"dense_sides": []})
    run_with(tiny_bundle_dir, _crops_alone, DenseRednessEncoder, options)


async def _crops_alone(localizer: Localizer) -> None:
    result = await localizer.locate(_photo(300, 200, (0, 0, 60, 60)), ["rosso"])
    encoder = localizer.embedder.encoder
    assert isinstance(encoder, DenseRednessEncoder) and encoder.dense_shapes == []
    assert (result.method, result.dense_maps) == ("crops", 0)


def test_coordinates_are_scaled_to_the_original_size(tiny_bundle_dir: Path) -> None:
    run_with(tiny_bundle_dir, _scaled_to_original)


async def _scaled_to_original(localizer: Localizer) -> None:
    # a reduced decode (e.g. a JPEG draft) of a 600x400 photo
    result = await localizer.locate(_photo(300, 200, (0, 0, 60, 60)), ["rosso"], size=(600, 400))
    assert (result.width, result.height) == (600, 400)
    x, y = result.phrases[0].point
    assert x <= 130 and y <= 130
    assert result.phrases[0].box.right <= 600


def test_big_photos_are_cropped_from_a_bounded_copy_and_budgets_hold() -> None:
    options = LocalizeSettings(scales=[0.2, 0.5], max_crops=40)
    windows = plan_windows(1000, 1000, options)
    assert len(windows) <= 40  # the 0.2 scale (81 windows) was dropped, 0.5 kept
    assert {round(w.width) for w in windows} == {1000, 500}
    assert plan_windows(100, 100, LocalizeSettings(scales=[0.5], max_crops=1)) == [
        Box(0, 0, 100, 100)  # at worst, the whole image alone
    ]
    big = Image.new("RGB", (3000, 1000))
    assert working_copy(big, 1024).size == (1024, 341)
    assert big.size == (3000, 1000)  # the caller's image is left as it is
    assert working_copy(big, 4000).size == (3000, 1000)


def test_original_size_applies_the_exif_rotation() -> None:
    image = Image.new("RGB", (60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: shown upright as 40 x 60
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    assert original_size(buffer.getvalue()) == (40, 60)
    plain = io.BytesIO()
    image.save(plain, "PNG")
    assert original_size(plain.getvalue()) == (60, 40)
