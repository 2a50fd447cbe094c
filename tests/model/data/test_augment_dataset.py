"""Augmentations on/off, one caption per image per epoch, unreadable images skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sguardo.bundle.manifest import ImagePreprocessing
from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.model.data.augment import TrainAugment
from sguardo.model.data.dataset import Collate, ImageCaptionDataset
from sguardo.model.data.records import ImageCaptions

PARAMS = ImagePreprocessing(resize_size=64, crop_size=56)


def _photo(shared_data: Path) -> Image.Image:
    return Image.open(shared_data / "imagenet-sample-it/images/n01440764.jpg")


def test_augment_output_format_and_randomness(shared_data: Path) -> None:
    image = _photo(shared_data)
    augment = TrainAugment(PARAMS)
    a = augment(image, np.random.default_rng(0))
    b = augment(image, np.random.default_rng(1))
    again = augment(image, np.random.default_rng(0))
    clean = ImagePreprocessor(PARAMS).to_array(image)
    assert a.shape == clean.shape == (3, 56, 56) and a.dtype == np.float32
    np.testing.assert_array_equal(a, again)
    assert not np.allclose(a, b)
    assert abs(a.mean() - clean.mean()) < 0.5  # same normalisation


def test_dataset_eval_mode_is_the_preprocessor(shared_data: Path) -> None:
    path = shared_data / "imagenet-sample-it/images/n01440764.jpg"
    dataset = ImageCaptionDataset([ImageCaptions(path, ("una tinca",))], ImagePreprocessor(PARAMS))
    pixels, caption = dataset[0]
    np.testing.assert_array_equal(pixels, ImagePreprocessor(PARAMS)(path.read_bytes()))
    assert caption == "una tinca"


def test_one_caption_per_image_per_epoch(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "imagenet-sample-it/images/n01440764.jpg"
    captions = tuple(f"didascalia {i}" for i in range(20))
    dataset = ImageCaptionDataset([ImageCaptions(path, captions)], ImagePreprocessor(PARAMS))
    seen = []
    for epoch in range(6):
        dataset.set_epoch(epoch)
        first = dataset[0][1]
        assert dataset[0][1] == first  # fixed within an epoch
        seen.append(first)
    assert len(set(seen)) > 1


def test_unreadable_images_are_counted_and_skipped(
    shared_data: Path, tmp_path: Path, caplog
) -> None:
    good = shared_data / "imagenet-sample-it/images/n01440764.jpg"
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    records = [
        ImageCaptions(good, ("uno",)),
        ImageCaptions(tmp_path / "missing.jpg", ("due",)),
        ImageCaptions(tmp_path / "broken.jpg", ("tre",)),
    ]
    dataset = ImageCaptionDataset(records, ImagePreprocessor(PARAMS))
    from tokenizers import Tokenizer, models

    from sguardo.bundle.manifest import TextPreprocessing
    from sguardo.bundle.preprocessing import TextTokenizer

    tokenizer = TextTokenizer(
        Tokenizer(models.WordLevel({"[UNK]": 0}, "[UNK]")), TextPreprocessing()
    )
    batch = Collate(tokenizer)([dataset[i] for i in range(3)])
    assert int(batch["skipped"]) == 2
    assert batch["pixel_values"].shape == (1, 3, 56, 56)
    assert "missing.jpg" in caplog.text
