"""The pointing game's bookkeeping: YOLO boxes, hits, the random baseline, size buckets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sguardo.bundle.pointing import (
    Pair,
    Tally,
    covered_fraction,
    is_hit,
    read_yolo_boxes,
)


def test_yolo_boxes_become_pixel_boxes_per_class(tmp_path: Path) -> None:
    labels = tmp_path / "a.txt"
    labels.write_text("0 0.5 0.5 0.5 0.5\n3 0.1 0.1 0.2 0.2\n0 0.9 0.9 0.2 0.2\nbad line\n")
    boxes = read_yolo_boxes(labels, 200, 100)
    assert sorted(boxes) == [0, 3]
    assert np.allclose(boxes[0][0], [50, 25, 150, 75])
    assert np.allclose(boxes[3][0], [0, 0, 40, 20])
    assert len(boxes[0]) == 2


def test_hits_and_the_random_baseline() -> None:
    boxes = np.array([[0, 0, 50, 50], [60, 60, 100, 100]], dtype=float)
    assert is_hit((25, 25), boxes) and is_hit((100, 100), boxes)
    assert not is_hit((55, 55), boxes)
    assert np.isclose(covered_fraction(boxes, 100, 100), (2500 + 1600) / 10000)


def test_pairs_are_sized_by_their_largest_box_with_coco_thresholds() -> None:
    def pair(side: float) -> Pair:
        return Pair(Path("x.jpg"), 0, np.array([[0, 0, side, side], [0, 0, 5, 5]], dtype=float))

    assert pair(31).size == "small"
    assert pair(32).size == "medium" and pair(95).size == "medium"
    assert pair(96).size == "large"


def test_tally_accuracy_per_size() -> None:
    tally = Tally.empty()
    for size, hit in (("small", 0.0), ("large", 1.0), ("large", 1.0), ("medium", 0.0)):
        tally.add(size, hit)
    assert tally.accuracy() == 0.5
    assert tally.accuracy(["large"]) == 1.0
    assert tally.count(["small", "medium"]) == 2
    assert np.isnan(Tally.empty().accuracy())
