"""The dense map: a phrase's score at every location of the photo's feature map.

A bundle whose vision tower is a CNN with global average pooling exports a dense graph
(`manifest.DenseVision`): the projection of every location's features, whose mean is the
image's embedding. A phrase's dot product with each location is then that location's share
of the whole photo's score for the phrase (a class activation map), from the photo seen
whole, with its context, rather than from zoomed-in crops. The photo runs at several sizes
(its short side at 384-768 px: coarse maps find large objects, fine ones small ones) and
mirrored; each map is resampled onto the heatmap grid and the maps are summed.

Pointing game with the demo bundle (`loadtests/bench_localize.py`, README): on coco128
train2017, where the settings were chosen, crops alone 42.5%, crops and this map 52.8% (the
image centre 31.8%); on val2017 40.5% and 47.2% (centre 32.2%).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.service.encoders.base import DenseEncoder
from sguardo.service.localize.heatmap import Grid

FeatureMap = tuple[np.ndarray, bool]  # (rows, cols, dim) features, and whether mirrored


def dense_inputs(
    preprocessor: ImagePreprocessor,
    image: Image.Image,
    sides: Sequence[int],
    max_side: int,
    min_side: int,
) -> list[tuple[np.ndarray, bool]]:
    """(1, 3, H, W) arrays of the whole photo at each short side, and each one mirrored."""
    inputs = []
    for side in sides:
        array = preprocessor.whole_to_array(image, side, max_side)
        if min(array.shape[1:]) < min_side:  # a sliver too thin for the graph's strides
            continue
        inputs.append((array[None], False))
        inputs.append((np.ascontiguousarray(array[None, :, :, ::-1]), True))
    return inputs


def feature_maps(
    encoder: DenseEncoder, inputs: Sequence[tuple[np.ndarray, bool]]
) -> list[FeatureMap]:
    """One engine call per input: sizes differ, so they cannot share a batch."""
    return [(encoder.encode_dense(pixels)[0], mirrored) for pixels, mirrored in inputs]


def resample(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(h, w, ...) → (rows, cols, ...) bilinear, cell centres aligned (half-pixel mapping)."""

    def axis(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        at = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
        low = np.floor(at).astype(int)
        high = np.minimum(low + 1, source - 1)
        return low, high, at - low

    y0, y1, fy = axis(values.shape[0], rows)
    x0, x1, fx = axis(values.shape[1], cols)
    extra = (1,) * (values.ndim - 2)
    fy, fx = fy.reshape(-1, 1, *extra), fx.reshape(1, -1, *extra)
    top = values[y0][:, x0] * (1 - fx) + values[y0][:, x1] * fx
    bottom = values[y1][:, x0] * (1 - fx) + values[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def dense_heat(maps: Sequence[FeatureMap], phrases: np.ndarray, grid: Grid) -> np.ndarray:
    """(phrases, rows, cols): each phrase's dot product with every location, every map
    resampled onto `grid` and summed (mirrored maps mirrored back)."""
    heat = np.zeros((grid.rows, grid.cols, len(phrases)), dtype=np.float64)
    for features, mirrored in maps:
        scores = features.astype(np.float64) @ phrases.T.astype(np.float64)  # (h, w, p)
        if mirrored:
            scores = scores[:, ::-1]
        heat += resample(scores, grid.rows, grid.cols)
    return heat.transpose(2, 0, 1)
