import csv
from pathlib import Path

import numpy as np
import torch

from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.model.backbones.efficientnet_lite import EfficientNetLite0, load_efficientnet_lite0
from sguardo.model.backbones.vision import image_preprocessing_for


def test_checkpoint_loads_strictly_into_the_architecture() -> None:
    model = load_efficientnet_lite0()  # load_state_dict(strict=True) inside
    assert isinstance(model, EfficientNetLite0)
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1280)


def test_classifies_real_imagenet_photos(shared_data: Path) -> None:
    """The pretrained weights with our architecture and preprocessing recognise real photos
    (EfficientNet-Lite0 reaches ~75% top-1 on ImageNet; these sample photos are typical ones)."""
    root = shared_data / "imagenet-sample-it"
    rows = list(csv.DictReader((root / "labels.tsv").open(), delimiter="\t"))[::9][:100]
    pre = ImagePreprocessor(image_preprocessing_for("efficientnet-lite0"))
    pixels = np.stack([pre((root / "images" / f"{r['wnid']}.jpg").read_bytes()) for r in rows])
    model = load_efficientnet_lite0()
    with torch.no_grad():
        predicted = model.classify(torch.from_numpy(pixels)).argmax(1).tolist()
    accuracy = np.mean([p == int(r["class_id"]) for p, r in zip(predicted, rows, strict=True)])
    assert accuracy >= 0.7, accuracy


def test_each_location_is_centred_on_input_pixel_stride_times_its_index() -> None:
    """What the dense map's geometry rests on (`DenseVision.stride`): the input pixels a
    location sees (its gradient's support) span symmetrically around pixel 32·k."""
    torch.manual_seed(0)
    model = EfficientNetLite0().eval()
    pixels = torch.randn(1, 3, 1024, 64, requires_grad=True)  # tall: no edge clips row 16's field
    features = model.feature_map(pixels)
    assert features.shape[2:] == (32, 2)
    features[0, :, 16, 1].sum().backward()
    assert pixels.grad is not None
    rows = torch.nonzero(pixels.grad[0].abs().sum(dim=(0, 2))).flatten()
    low, high = int(rows.min()), int(rows.max())
    assert low > 0 and high < 1023  # the whole receptive field is inside the input
    assert (low + high) / 2 == EfficientNetLite0.output_stride * 16
