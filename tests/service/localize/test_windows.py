"""Sliding windows: every scale covers the whole image, and the seen region is the centre crop."""

from __future__ import annotations

import itertools

import pytest

from sguardo.service.localize.windows import Box, seen_region, sliding_windows


def test_windows_cover_the_image_at_every_scale_with_the_last_flush() -> None:
    windows = sliding_windows(640, 480, [0.25, 0.5], overlap=0.5)
    assert windows[0] == Box(0, 0, 640, 480)  # the whole image first
    for side in (120, 240):
        same = [w for w in windows if w.width == side]
        assert all(w.height == side for w in same)
        assert min(w.left for w in same) == 0 and max(w.right for w in same) == 640
        assert min(w.top for w in same) == 0 and max(w.bottom for w in same) == 480
        lefts = sorted({w.left for w in same})
        steps = [b - a for a, b in itertools.pairwise(lefts)]
        assert max(steps) <= side * 0.5 + 1  # neighbours share at least half


def test_more_overlap_means_more_windows_and_no_duplicates() -> None:
    half = sliding_windows(300, 300, [0.5], overlap=0.5)
    more = sliding_windows(300, 300, [0.5], overlap=0.75)
    assert len(more) > len(half)
    # scale 1 on a square image is the whole image again: kept once
    assert sliding_windows(300, 300, [1.0], overlap=0.5) == [Box(0, 0, 300, 300)]


def test_overlap_must_leave_a_stride() -> None:
    with pytest.raises(ValueError, match="overlap"):
        sliding_windows(100, 100, [0.5], overlap=1.0)


def test_the_seen_region_is_the_centre_crop_of_the_window() -> None:
    # resize 256 then centre-crop 224: a 256-px window shows its central 224 px
    assert seen_region(Box(0, 0, 256, 256), 256, 224) == Box(16, 16, 240, 240)
    # a wide window: the short side sets the crop, which is centred
    assert seen_region(Box(0, 0, 512, 256), 256, 224) == Box(144, 16, 368, 240)
    assert Box(10, 20, 30, 60).scaled(2, 0.5) == Box(20, 10, 60, 30)
