"""Where in a photo each phrase is: crops through the bundle's vision tower, one batch each,
and, when the bundle has a dense vision graph, the photo's feature map (see `dense`).

All of a request's crops go to the image batcher in one submission, so they are encoded
together (and with other callers' images) at the batcher's batch size, and a request can
never hold more crops than `max_crops`. The dense graph runs the whole photo at a few sizes on
the decode threads, alongside the crops.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from sguardo.bundle.manifest import DenseVision
from sguardo.bundle.scoring import bundle_logit_scale
from sguardo.service.core.settings import LocalizeSettings
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.base import dense_encoder
from sguardo.service.localize import heatmap
from sguardo.service.localize.dense import FeatureMap, dense_heat, dense_inputs, feature_maps
from sguardo.service.localize.windows import Box, seen_region, sliding_windows


@dataclass(frozen=True)
class PhraseLocation:
    phrase: str
    heatmap: np.ndarray  # (rows, cols) in [0, 1]
    box: Box  # in the pixels of the image as sent
    score: float  # the box's probability for the phrase against the neutral prompts
    point: tuple[float, float]  # the heatmap's peak, in pixels


@dataclass(frozen=True)
class Localization:
    width: int
    height: int
    grid: heatmap.Grid
    crops: int
    phrases: list[PhraseLocation]
    method: Literal["crops", "crops+dense"] = "crops"
    dense_maps: int = 0  # photo sizes (mirrors included) run through the dense graph


def plan_windows(width: int, height: int, options: LocalizeSettings) -> list[Box]:
    """The configured scales, dropping the smallest ones while the budget is exceeded.

    Only very elongated images (panoramas) reach the default budget: it bounds the work per
    request without refusing them. At worst the whole image alone is left (max_crops ≥ 1)."""
    scales = sorted(options.scales, reverse=True)
    while scales:
        windows = sliding_windows(width, height, scales, options.overlap)
        if len(windows) <= options.max_crops:
            return windows
        scales.pop()  # the smallest scale has the most windows
    return sliding_windows(width, height, [], options.overlap)


def working_copy(image: Image.Image, max_side: int) -> Image.Image:
    """Big photos are cropped from a copy at most `max_side` on the long side. Every window
    is resized to the encoder's input (224 px for most bundles) anyway: at 1024 px a 0.2
    window is already ≈ 150–200 px, so more pixels would only cost time."""
    image = image.convert("RGB")  # a copy: the caller's image is left as it is
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return image


def original_size(data: bytes) -> tuple[int, int]:
    """Width and height of the upright image, from its header (EXIF rotations swap them)."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


class Localizer:
    def __init__(self, embedder: Embedder, options: LocalizeSettings) -> None:
        self.embedder = embedder
        self.options = options
        self.logit_scale = bundle_logit_scale(embedder.bundle.manifest)
        self.dense = dense_encoder(embedder.encoder) if options.dense_sides else None
        # An encoder whose dense graph the manifest does not describe: the defaults describe
        # the only kind written (EfficientNet-Lite0).
        self.dense_vision = embedder.bundle.manifest.dense_vision or DenseVision()

    def _crops(self, image: Image.Image, windows: Sequence[Box]) -> list[np.ndarray]:
        to_array = self.embedder.preprocessor.to_array
        return [
            to_array(image.crop((round(w.left), round(w.top), round(w.right), round(w.bottom))))
            for w in windows
        ]

    async def _feature_maps(self, image: Image.Image) -> list[FeatureMap]:
        dense, graph = self.dense, self.dense_vision
        if dense is None:
            return []
        options, preprocessor = self.options, self.embedder.preprocessor
        return await self.embedder.decode(
            lambda: feature_maps(
                dense,
                dense_inputs(
                    preprocessor, image, options.dense_sides, options.max_side, graph.min_side
                ),
            )
        )

    async def locate(
        self, image: Image.Image, phrases: Sequence[str], size: tuple[int, int] | None = None
    ) -> Localization:
        """Locate each phrase in `image`; coordinates are scaled to `size` (the original
        width and height, when `image` is a reduced decode of it)."""
        work = working_copy(image, self.options.max_side)
        width, height = work.size
        windows = plan_windows(width, height, self.options)
        # Cropping and resizing hundreds of windows is CPU work: the embedder's decode threads.
        crops = await self.embedder.decode(lambda: self._crops(work, windows))
        texts = list(phrases) + list(heatmap.NEUTRAL_PROMPTS)
        window_vectors, text_vectors, maps_dense = await asyncio.gather(
            self.embedder.embed_arrays(crops),
            self.embedder.embed_texts(texts),
            self._feature_maps(work),
        )
        phrase_vectors, neutral_vectors = text_vectors[: len(phrases)], text_vectors[len(phrases) :]
        scores = heatmap.window_scores(
            window_vectors, phrase_vectors, neutral_vectors, self.logit_scale
        )
        params = self.embedder.preprocessor.params
        regions = [seen_region(w, params.resize_size, params.crop_size) for w in windows]
        grid = heatmap.grid_for(width, height, self.options.grid_cells)
        cover = heatmap.coverage(regions, width, height, grid)
        maps = heatmap.normalise(heatmap.score_mass(scores, regions, cover))
        if maps_dense:
            stride = self.dense_vision.stride
            maps = self._with_dense(maps, dense_heat(maps_dense, phrase_vectors, grid, stride))
        out_width, out_height = size or (width, height)
        fx, fy = out_width / width, out_height / height
        located = []
        for i, phrase in enumerate(phrases):
            x, y = heatmap.peak(maps[i], width, height)
            box, score = heatmap.best_window(scores[:, i], regions, (x, y))
            located.append(
                PhraseLocation(
                    phrase=phrase,
                    heatmap=maps[i],
                    box=_clamped(box.scaled(fx, fy), out_width, out_height),
                    score=score,
                    point=(x * fx, y * fy),
                )
            )
        method: Literal["crops", "crops+dense"] = "crops+dense" if maps_dense else "crops"
        return Localization(
            out_width, out_height, grid, len(windows), located, method, len(maps_dense)
        )

    def _with_dense(self, crop_maps: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """The crops' and the dense map, each in [0, 1], averaged by `dense_weight` and blurred
        by `smoothing` cells: the two err in different places (crops lose context, the feature
        map is coarse), so where they agree is where the phrase is."""
        sigma, weight = self.options.smoothing, self.options.dense_weight
        dense = heatmap.normalise(heatmap.smooth(dense, sigma))
        mixed = weight * dense + (1 - weight) * crop_maps
        return heatmap.normalise(heatmap.smooth(mixed, sigma))


def _clamped(box: Box, width: int, height: int) -> Box:
    return Box(
        max(0, round(box.left)),
        max(0, round(box.top)),
        min(width, round(box.right)),
        min(height, round(box.bottom)),
    )
