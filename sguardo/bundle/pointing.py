"""The pointing game (Zhang et al., 2016) on YOLO-labelled photos: does the heatmap's peak
fall inside an object of the class it was asked for?

Scored per (image, class present) pair, against two baselines on the same pairs: the image
centre, and a uniform random point (its exact expectation: the share of the image that the
class's boxes cover). Pairs are small, medium or large by their class's largest box in the
image, with COCO's area thresholds (32² and 96² pixels).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SMALL_AREA, LARGE_AREA = 32**2, 96**2
SIZES = ("small", "medium", "large")


@dataclass(frozen=True)
class Pair:
    image: Path
    class_id: int
    boxes: np.ndarray  # (n, 4) left, top, right, bottom in pixels

    @property
    def size(self) -> str:
        areas = (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])
        area = float(areas.max())
        return "small" if area < SMALL_AREA else "medium" if area < LARGE_AREA else "large"


def read_yolo_boxes(label_file: Path, width: int, height: int) -> dict[int, np.ndarray]:
    """`class cx cy w h` lines (normalised) → pixel boxes per class."""
    per_class: dict[int, list[list[float]]] = {}
    for line in label_file.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        cls = int(parts[0])
        cx, cy, w, h = (float(v) for v in parts[1:])
        box = [
            (cx - w / 2) * width,
            (cy - h / 2) * height,
            (cx + w / 2) * width,
            (cy + h / 2) * height,
        ]
        per_class.setdefault(cls, []).append(box)
    return {cls: np.asarray(boxes, dtype=np.float64) for cls, boxes in per_class.items()}


def is_hit(point: tuple[float, float], boxes: np.ndarray) -> bool:
    x, y = point
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    return bool(inside.any())


def covered_fraction(boxes: np.ndarray, width: int, height: int) -> float:
    """Share of the image's pixels inside any box: a uniform random point's hit chance."""
    mask = np.zeros((height, width), dtype=bool)
    for left, top, right, bottom in boxes:
        mask[
            max(0, int(np.floor(top))) : min(height, int(np.ceil(bottom))),
            max(0, int(np.floor(left))) : min(width, int(np.ceil(right))),
        ] = True
    return float(mask.mean())


@dataclass
class Tally:
    """Hits (or hit chances) per size bucket, for one method."""

    hits: dict[str, list[float]]

    @classmethod
    def empty(cls) -> Tally:
        return cls({size: [] for size in SIZES})

    def add(self, size: str, hit: float) -> None:
        self.hits[size].append(hit)

    def accuracy(self, sizes: Iterable[str] = SIZES) -> float:
        values = [v for s in sizes for v in self.hits[s]]
        return float(np.mean(values)) if values else float("nan")

    def count(self, sizes: Iterable[str] = SIZES) -> int:
        return sum(len(self.hits[s]) for s in sizes)
