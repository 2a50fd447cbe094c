"""The one-pass resize-and-crop and normalisation (issue 13, Speed item 3) give what resizing the
whole image, cropping it and normalising step by step give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sguardo.bundle.manifest import ImagePreprocessing
from sguardo.bundle.preprocessing import _RESAMPLE, ImagePreprocessor


def reference(params: ImagePreprocessing, image: Image.Image) -> np.ndarray:
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(params.resize_size * long / short)
    size = (params.resize_size, new_long) if width <= height else (new_long, params.resize_size)
    resized = image.resize(size, _RESAMPLE[params.interpolation])
    left, top = (size[0] - params.crop_size) // 2, (size[1] - params.crop_size) // 2
    crop = resized.crop((left, top, left + params.crop_size, top + params.crop_size))
    chw = np.asarray(crop, dtype=np.float32).transpose(2, 0, 1) / 255.0
    mean = np.asarray(params.mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(params.std, dtype=np.float32).reshape(3, 1, 1)
    return (chw - mean) / std


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_one_pass_matches_resize_then_crop(shared_data: Path, interpolation: str) -> None:
    params = ImagePreprocessing(
        resize_size=256,
        crop_size=224,
        interpolation=interpolation,
        mean=[0.48145466, 0.4578275, 0.40821073],
        std=[0.26862954, 0.26130258, 0.27577711],
    )
    preprocessor = ImagePreprocessor(params)
    paths = sorted((shared_data / "coco128" / "images").glob("*/*.jpg"))[:8]
    for path in paths:
        image = preprocessor.decode(path.read_bytes())
        for candidate in (image, image.transpose(Image.Transpose.ROTATE_90)):
            got, want = preprocessor.to_array(candidate), reference(params, candidate)
            assert got.shape == want.shape == (3, 224, 224) and got.dtype == np.float32
            # The same filter taps; PIL's fixed-point rounding may differ by one level, and
            # bicubic's clamped overshoot by a few levels on a few pixels.
            levels = np.abs(got - want) * 255 * min(params.std)
            assert (levels <= 1.01).mean() >= 0.99
            assert levels.max() <= (1.01 if interpolation == "bilinear" else 8)


def test_small_and_exact_sizes_still_work() -> None:
    params = ImagePreprocessing(resize_size=32, crop_size=32)
    preprocessor = ImagePreprocessor(params)
    for size in ((32, 32), (32, 48), (20, 10), (300, 31)):
        image = Image.new("RGB", size, (10, 200, 30))
        out = preprocessor.to_array(image)
        assert out.shape == (3, 32, 32)
        np.testing.assert_allclose(out, reference(params, image), atol=1e-5)
