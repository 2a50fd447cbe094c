"""The pointing stage: feature maps with their boxes, the loss, and a head that learns to point
while the pooled embeddings stay where they were."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from sguardo.model.train.pointing import (
    BoxedPhoto,
    PointingConfig,
    PointingMap,
    pointing_accuracy,
    pointing_loss,
    pointing_maps,
    pooled_features,
    read_boxed_photos,
    train_pointing_head,
)


def test_the_loss_is_low_when_the_mass_is_inside_the_boxes() -> None:
    inside = torch.tensor([[False, True, False, False]])
    peak_inside = torch.tensor([[0.0], [5.0], [0.0], [0.0]])
    peak_outside = torch.tensor([[5.0], [0.0], [0.0], [0.0]])
    assert pointing_loss(peak_inside, inside, 0.5) < 0.1
    assert pointing_loss(peak_outside, inside, 0.5) > 2
    # any location inside any box will do: two boxes, the peak in either
    both = torch.tensor([[True, False, False, True]])
    assert pointing_loss(peak_outside, both, 0.5) < 0.1


def _synthetic_maps(count: int = 24, hidden: int = 8) -> tuple[list[PointingMap], torch.Tensor]:
    """Maps of 20 locations; class c's object adds direction c at 3 random locations."""
    rng = np.random.default_rng(0)
    directions = torch.from_numpy(rng.normal(size=(2, hidden)).astype(np.float32))
    maps = []
    for i in range(count):
        features = torch.from_numpy(rng.normal(size=(20, hidden)).astype(np.float32))
        inside = torch.zeros(2, 20, dtype=torch.bool)
        for c in range(2):
            where = rng.choice(20, 3, replace=False)
            features[where] += 2 * directions[c]
            inside[c, where] = True
        maps.append(PointingMap(features.half(), inside, torch.tensor([0, 1]), photo=i))
    return maps, directions


def _drift(head: nn.Module, pooled: torch.Tensor, start: torch.Tensor) -> float:
    with torch.no_grad():
        now = torch.nn.functional.normalize(head(pooled), dim=-1)
    return float((1 - (now * start).sum(-1)).mean())


def test_the_head_learns_to_point_and_the_penalty_holds_the_pooled_embeddings() -> None:
    torch.manual_seed(0)
    maps, _ = _synthetic_maps()
    start_head = nn.Linear(8, 4, bias=False)
    classes = torch.nn.functional.normalize(torch.randn(2, 4), dim=-1)
    before = pointing_accuracy(start_head, maps, classes)
    pooled = pooled_features(maps)
    start = torch.nn.functional.normalize(start_head(pooled), dim=-1).detach()
    drifts = {}
    for weight in (0.0, 10.0):
        head = copy.deepcopy(start_head)
        config = PointingConfig(steps=150, maps_per_step=8, lr=3e-2, drift_weight=weight)
        result = train_pointing_head(head, maps, classes, config)
        assert result.losses[-1] < 0.5 * result.losses[0]
        assert pointing_accuracy(head, maps, classes) > max(0.9, before + 0.3)
        drifts[weight] = _drift(head, pooled, start)
    assert drifts[10.0] < 0.5 * drifts[0.0]


def test_maps_without_a_location_inside_any_box_cannot_train() -> None:
    maps, _ = _synthetic_maps(2)
    for m in maps:
        m.inside[:] = False
    with pytest.raises(ValueError, match="no feature map"):
        train_pointing_head(nn.Linear(8, 4, bias=False), maps, torch.randn(2, 4), PointingConfig())


def test_boxed_photos_are_read_from_yolo_labels(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for name in ("a", "b", "c"):
        Image.new("RGB", (100, 50)).save(images / f"{name}.jpg")
    (labels / "a.txt").write_text("3 0.25 0.5 0.5 1.0\n")
    (labels / "b.txt").write_text("")  # no objects: left out, as is c without a label file
    photos = read_boxed_photos(images, labels)
    assert [p.image.name for p in photos] == ["a.jpg"]
    assert np.allclose(photos[0].boxes[3], [[0, 0, 50, 50]])


def test_feature_maps_mark_the_locations_inside_each_class_box(
    tiny_cnn_config, tmp_path: Path
) -> None:
    from sguardo.model.dual_encoder import DualEncoder

    model = DualEncoder.from_config(tiny_cnn_config).eval()
    path = tmp_path / "photo.png"
    Image.new("RGB", (200, 100), "white").save(path)
    # class 5 fills the left quarter; class 7 the right half
    photo = BoxedPhoto(path, {5: np.array([[0, 0, 50, 100.0]]), 7: np.array([[100, 0, 200, 100]])})
    plain, mirrored = pointing_maps(model, [photo], [64], mirror=True, progress=False)
    # short side 64: a 64 × 128 input, a 2 × 4 map whose columns see pixels 0, 32, 64, 96
    # of 128 (x = 0, 50, 100, 150 in the photo)
    assert plain.features.shape == (8, 1280) and plain.classes.tolist() == [5, 7]
    assert plain.inside.reshape(2, 2, 4)[:, 0].tolist() == [
        [True, False, False, False],
        [False, False, True, True],
    ]
    # mirrored, column k sees photo x = 200 - (32k + 0.5) * 200 / 128: 199, 149, 99, 49
    assert mirrored.inside.reshape(2, 2, 4)[:, 0].tolist() == [
        [False, False, False, True],
        [True, True, False, False],
    ]
    with torch.inference_mode():
        whole = model.vision_tower(
            torch.from_numpy(
                model.image_preprocessor.whole_to_array(Image.open(path).convert("RGB"), 64, 1024)[
                    None
                ]
            )
        )
    torch.testing.assert_close(pooled_features([plain]), whole.float(), atol=2e-2, rtol=1e-2)
