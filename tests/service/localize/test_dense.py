"""The dense map's parts: the photo's inputs at each size, resampling onto the grid, mirrored
maps put back, and the blur."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sguardo.bundle.manifest import ImagePreprocessing
from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.service.localize import heatmap
from sguardo.service.localize.dense import (
    FeatureMap,
    dense_heat,
    dense_inputs,
    resample,
)


def test_each_size_and_its_mirror_is_the_whole_photo_uncropped() -> None:
    preprocessor = ImagePreprocessor(ImagePreprocessing(mean=(0.5,) * 3, std=(0.5,) * 3))
    photo = Image.new("RGB", (640, 480), (255, 0, 0))
    photo.paste((0, 0, 255), (0, 0, 64, 480))  # a blue left edge
    inputs = dense_inputs(preprocessor, photo, [240, 384, 768], max_side=800, min_side=32)
    shapes = [pixels.shape for pixels, _ in inputs]
    # 768 would make the long side 1024: capped at 800 (600 × 800)
    assert shapes == [(1, 3, 240, 320)] * 2 + [(1, 3, 384, 512)] * 2 + [(1, 3, 600, 800)] * 2
    assert [mirrored for _, mirrored in inputs] == [False, True] * 3
    plain, mirrored = inputs[0][0], inputs[1][0]
    assert np.allclose(plain[..., ::-1], mirrored)
    assert plain[0, 2, 100, 5] == 1.0 and mirrored[0, 2, 100, -5] == 1.0  # blue, normalised
    # a sliver thinner than the graph's smallest input is skipped, not sent
    sliver = Image.new("RGB", (4000, 40))
    assert dense_inputs(preprocessor, sliver, [64], max_side=1024, min_side=32) == []


def test_resample_keeps_constants_and_ramps_and_reads_values_where_they_sit() -> None:
    def centres(n: int) -> np.ndarray:
        return (np.arange(n) + 0.5) / n

    assert np.allclose(resample(np.full((3, 4, 2), 7.0), 9, 12, centres(3), centres(4)), 7.0)
    same = np.random.default_rng(0).random((5, 6))
    assert np.allclose(resample(same, 5, 6, centres(5), centres(6)), same)
    ramp = np.tile(np.arange(4.0), (2, 1))  # columns 0..3 at centres 0.5..3.5 of 4
    doubled = resample(ramp, 2, 8, centres(2), centres(4))
    assert np.allclose(doubled[0], [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])
    # the same columns sitting a quarter of a column further left: read further right
    shifted = resample(ramp, 2, 8, centres(2), centres(4) - 0.0625)
    assert np.allclose(shifted[0], [0, 0.5, 1, 1.5, 2, 2.5, 3, 3])


def test_dense_heat_scores_every_location_and_puts_mirrors_back() -> None:
    grid = heatmap.Grid(rows=3, cols=5)
    features = np.zeros((2, 3, 2), dtype=np.float32)
    features[1, 2] = [1, 0]  # the phrase's direction, at the bottom right
    phrases = np.asarray([[1, 0], [0, 1]], dtype=np.float32)
    # 65 × 33 px: 3 × 2 locations on pixels x 0, 32, 64 and y 0, 32, symmetric left to right,
    # so the mirrored photo's map, put back, must be the plain one
    plain = FeatureMap(features, False, 65, 33)
    mirror = FeatureMap(features[:, ::-1], True, 65, 33)
    heat = dense_heat([plain], phrases, grid, stride=32)
    assert heat.shape == (2, 3, 5)
    assert np.allclose(dense_heat([mirror], phrases, grid, stride=32), heat)
    assert np.allclose(dense_heat([plain, mirror], phrases, grid, stride=32), 2 * heat)
    # the peak is in the bottom-right cell, where location (1, 2) sits; the other phrase is 0
    assert np.unravel_index(int(np.argmax(heat[0])), heat[0].shape) == (2, 4)
    assert np.allclose(heat[1], 0)
    # a width of 96 px puts 3 locations on 0, 32, 64: the plain map leans left, the mirror's
    # (on 95, 63, 31 once put back) right, and the mirror's peak moves with it
    wide = [FeatureMap(features, False, 96, 33), FeatureMap(features[:, ::-1], True, 96, 33)]
    grid = heatmap.Grid(rows=2, cols=6)  # 16-px columns centred on 8, 24, ..., 88
    plain_heat, mirror_heat = (dense_heat([m], phrases, grid, stride=32)[0] for m in wide)
    row = plain_heat[1]  # (row 1's centre, y 24.75, is 3/4 of the way to location row 1)
    assert np.isclose(row[4], row[5])  # x 72 and 88: both beyond the last location (64.5)
    assert np.isclose(mirror_heat[1, 5], row[5] * (88 - 63.5) / 32)
    assert np.isclose(mirror_heat[1, 4], row[5] * (72 - 63.5) / 32)


def test_smoothing_spreads_a_peak_keeps_its_place_and_its_mass() -> None:
    impulse = np.zeros((1, 15, 15))
    impulse[0, 7, 7] = 1
    blurred = heatmap.smooth(impulse, 1.0)
    assert np.unravel_index(int(np.argmax(blurred[0])), (15, 15)) == (7, 7)
    assert np.isclose(blurred.sum(), 1.0)
    assert np.allclose(blurred[0], blurred[0].T) and np.allclose(blurred[0], blurred[0, ::-1])
    assert 0.1 < blurred[0, 7, 7] < 0.2  # 1 / (2π σ²) ≈ 0.16
    assert heatmap.smooth(impulse, 0) is impulse
