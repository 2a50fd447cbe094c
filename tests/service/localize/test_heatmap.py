"""Scores against neutral prompts, score mass per cell, peak and the connected best box."""

from __future__ import annotations

import numpy as np

from sguardo.service.localize import heatmap
from sguardo.service.localize.windows import Box


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_window_scores_are_the_phrase_probability_against_the_neutral_prompts() -> None:
    windows = np.stack([_unit(1, 0, 0), _unit(0, 1, 0)])
    phrases = np.stack([_unit(1, 0, 0), _unit(0, 0, 1)])
    neutral = np.stack([_unit(0, 1, 0)])
    scores = heatmap.window_scores(windows, phrases, neutral, logit_scale=10)
    assert scores.shape == (2, 2)
    assert np.all((scores > 0) & (scores < 1))
    expected = np.exp(10) / (np.exp(10) + np.exp(0))
    assert np.isclose(scores[0, 0], expected)  # window 0 is the phrase, not neutral
    assert np.isclose(scores[1, 0], 1 / (1 + np.exp(10)))  # window 1 is neutral
    # huge logits do not overflow
    assert np.all(np.isfinite(heatmap.window_scores(windows, phrases, neutral, 1e4)))


def test_score_mass_puts_the_peak_where_the_small_good_window_is() -> None:
    width, height = 200, 100
    grid = heatmap.grid_for(width, height, 20)
    assert (grid.rows, grid.cols) == (10, 20)
    regions = [Box(0, 0, 200, 100), Box(150, 50, 200, 100), Box(0, 0, 50, 50)]
    scores = np.array([[0.5], [0.9], [0.1]])
    cover = heatmap.coverage(regions, width, height, grid)
    maps = heatmap.normalise(heatmap.score_mass(scores, regions, cover))
    assert maps.shape == (1, 10, 20)
    assert maps.min() == 0 and maps.max() == 1
    x, y = heatmap.peak(maps[0], width, height)
    assert 150 <= x <= 200 and 50 <= y <= 100


def test_a_flat_map_normalises_to_zero() -> None:
    assert not heatmap.normalise(np.ones((1, 3, 3))).any()


def test_the_box_is_the_best_window_that_saw_the_peak_the_larger_on_a_near_tie() -> None:
    regions = [Box(0, 0, 100, 100), Box(0, 0, 40, 40), Box(50, 50, 90, 90), Box(60, 0, 100, 40)]
    scores = np.array([0.80, 0.83, 0.99, 0.95])
    # the peak at (20, 20): windows 0 and 1 saw it; 1 is best, 0 within 0.05 and larger
    box, score = heatmap.best_window(scores, regions, (20, 20))
    assert box == Box(0, 0, 100, 100) and score == 0.80
    box, score = heatmap.best_window(scores, regions, (20, 20), tolerance=0.01)
    assert box == Box(0, 0, 40, 40) and score == 0.83
    box, _ = heatmap.best_window(scores, regions, (70, 70))
    assert box == Box(50, 50, 90, 90)  # not window 3, which did not see the peak
