"""The dense map: a phrase's score at every location of the photo's feature map.

A bundle whose vision tower is a CNN with global average pooling exports a dense graph
(`manifest.DenseVision`): the projection of every location's features, whose mean is the
image's embedding. A phrase's dot product with each location is then that location's share
of the whole photo's score for the phrase (a class activation map), from the photo seen
whole, with its context, rather than from zoomed-in crops. The photo runs at several sizes
(its short side at 384-768 px: coarse maps find large objects, fine ones small ones) and
mirrored; each map is resampled onto the heatmap grid and the maps are summed.

Pointing game with the demo bundle (`loadtests/bench_localize.py`, README): on coco128
train2017, where the settings were chosen, crops alone 42.5%, crops and this map 54.4% (the
image centre 31.8%); on val2017 40.5% and 46.4% (centre 32.2%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sguardo.bundle.dense_grid import location_centres
from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.service.encoders.base import DenseEncoder
from sguardo.service.localize.heatmap import Grid


@dataclass(frozen=True)
class FeatureMap:
    """One run of the dense graph: its (rows, cols, dim) features, whether the input was the
    mirrored photo, and that input's size in pixels (the locations' positions follow from it)."""

    features: np.ndarray
    mirrored: bool
    width: int
    height: int


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
    return [
        FeatureMap(encoder.encode_dense(pixels)[0], mirrored, pixels.shape[3], pixels.shape[2])
        for pixels, mirrored in inputs
    ]


def resample(
    values: np.ndarray, rows: int, cols: int, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    """(h, w, ...) → (rows, cols, ...) bilinear: `values[i, j]` sits at (`ys[i]`, `xs[j]`),
    increasing fractions of the image's height and width; each grid cell takes the value at
    its centre, the nearest edge value beyond the outermost locations."""

    def axis(positions: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        at = np.interp((np.arange(target) + 0.5) / target, positions, np.arange(len(positions)))
        low = np.floor(at).astype(int)
        high = np.minimum(low + 1, len(positions) - 1)
        return low, high, at - low

    y0, y1, fy = axis(ys, rows)
    x0, x1, fx = axis(xs, cols)
    extra = (1,) * (values.ndim - 2)
    fy, fx = fy.reshape(-1, 1, *extra), fx.reshape(1, -1, *extra)
    top = values[y0][:, x0] * (1 - fx) + values[y0][:, x1] * fx
    bottom = values[y1][:, x0] * (1 - fx) + values[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def dense_heat(
    maps: Sequence[FeatureMap], phrases: np.ndarray, grid: Grid, stride: int
) -> np.ndarray:
    """(phrases, rows, cols): each phrase's dot product with every location, every map
    resampled onto `grid` from where its locations sit (mirrored maps mirrored back) and
    summed. `stride`: the graph's output stride in pixels."""
    heat = np.zeros((grid.rows, grid.cols, len(phrases)), dtype=np.float64)
    for m in maps:
        scores = m.features.astype(np.float64) @ phrases.T.astype(np.float64)  # (h, w, p)
        ys = location_centres(scores.shape[0], stride, m.height)
        xs = location_centres(scores.shape[1], stride, m.width)
        if m.mirrored:  # column j of the mirror lies at 1 - xs[j]: reverse both to put it back
            scores, xs = scores[:, ::-1], 1 - xs[::-1]
        heat += resample(scores, grid.rows, grid.cols, ys, xs)
    return heat.transpose(2, 0, 1)
