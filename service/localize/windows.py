"""Sliding windows over an image, at several scales, and the region the encoder really sees.

Windows are square (the vision tower's input is square) with a side that is a fraction of the
image's short side; consecutive windows overlap, so every cell is covered by several windows
of each scale and the heatmap does not show the stride as a pattern.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels: left, top, right, bottom (right and bottom exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def scaled(self, factor_x: float, factor_y: float) -> Box:
        return Box(
            self.left * factor_x,
            self.top * factor_y,
            self.right * factor_x,
            self.bottom * factor_y,
        )


def _starts(length: int, side: int, stride: float) -> list[int]:
    """Window starts along one axis: evenly spread, the last window flush with the edge."""
    if side >= length:
        return [0]
    count = math.ceil((length - side) / stride) + 1
    return [round(i * (length - side) / (count - 1)) for i in range(count)]


def sliding_windows(width: int, height: int, scales: Sequence[float], overlap: float) -> list[Box]:
    """Square windows of side `scale × short side` for each scale, `overlap` ∈ [0, 1) shared
    between neighbours, plus the whole image (the reference every window is compared with)."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), not {overlap}")
    short = min(width, height)
    windows = [Box(0, 0, width, height)]
    for scale in scales:
        side = max(1, round(short * scale))
        stride = max(1.0, side * (1 - overlap))
        for top in _starts(height, side, stride):
            for left in _starts(width, side, stride):
                windows.append(Box(left, top, left + side, top + side))
    return list(dict.fromkeys(windows))  # scale 1 on a square image repeats the whole image


def seen_region(window: Box, resize_size: int, crop_size: int) -> Box:
    """The part of `window` the encoder sees after the bundle's resize-then-centre-crop.

    The preprocessing scales the short side to `resize_size` and keeps the central
    `crop_size` square, so a window's border never reaches the model: scoring must credit
    only the seen part, or every window would claim its unseen border too.
    """
    side = crop_size * min(window.width, window.height) / resize_size
    side_x, side_y = min(side, window.width), min(side, window.height)
    cx = (window.left + window.right) / 2
    cy = (window.top + window.bottom) / 2
    return Box(cx - side_x / 2, cy - side_y / 2, cx + side_x / 2, cy + side_y / 2)
