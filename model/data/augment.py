"""clip-italian's training-image augmentations, in PIL (torchvision has no CPU build here).

clip-italian (run_hybrid_clip.py): resize the short side, random crop, colour jitter (hue 0.1),
horizontal flip, random affine (±15°, translate 0.1, scale 0.8–1.2, shear ±15°, grey fill),
random perspective (distortion 0.3, p 0.3), random autocontrast (p 0.3), random equalise
(p 0.5), then normalise. The output is exactly `ImagePreprocessor.to_array`'s format; for
evaluation use `ImagePreprocessor.to_array` itself (no augmentation).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from sguardo.bundle.manifest import ImagePreprocessing
from sguardo.bundle.preprocessing import ImagePreprocessor

_FILL = (127, 127, 127)


class TrainAugment:
    def __init__(
        self,
        params: ImagePreprocessing,
        *,
        hue: float = 0.1,
        brightness: float = 0.0,
        degrees: float = 15.0,
        translate: float = 0.1,
        scale: tuple[float, float] = (0.8, 1.2),
        shear: float = 15.0,
        perspective: float = 0.3,
        p_perspective: float = 0.3,
        p_autocontrast: float = 0.3,
        p_equalize: float = 0.5,
    ):
        self.params = params
        self._eval = ImagePreprocessor(params)
        self.hue, self.brightness = hue, brightness
        self.degrees, self.translate, self.scale, self.shear = degrees, translate, scale, shear
        self.perspective, self.p_perspective = perspective, p_perspective
        self.p_autocontrast, self.p_equalize = p_autocontrast, p_equalize

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> np.ndarray:
        """(3, crop, crop) float32, normalised like evaluation, randomly augmented."""
        image = self._resize_random_crop(image.convert("RGB"), rng)
        image = self._jitter(image, rng)
        if rng.random() < 0.5:
            image = ImageOps.mirror(image)
        image = self._affine(image, rng)
        if rng.random() < self.p_perspective:
            image = self._perspective(image, rng)
        if rng.random() < self.p_autocontrast:
            image = ImageOps.autocontrast(image)
        if rng.random() < self.p_equalize:
            image = ImageOps.equalize(image)
        # The crop is already the target size: to_array only converts and normalises.
        return self._eval.to_array(image)

    def _resize_random_crop(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        size = self.params.crop_size
        w, h = image.size
        factor = self.params.resize_size / min(w, h)
        image = image.resize(
            (max(size, round(w * factor)), max(size, round(h * factor))), Image.Resampling.BICUBIC
        )
        w, h = image.size
        left, top = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
        return image.crop((left, top, left + size, top + size))

    def _jitter(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        if self.brightness:
            image = ImageEnhance.Brightness(image).enhance(
                float(rng.uniform(1 - self.brightness, 1 + self.brightness))
            )
        if self.hue:
            shift = round(float(rng.uniform(-self.hue, self.hue)) * 255)
            h, s, v = image.convert("HSV").split()
            h = h.point(lambda x: (x + shift) % 256)
            image = Image.merge("HSV", (h, s, v)).convert("RGB")
        return image

    def _affine(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        angle = math.radians(float(rng.uniform(-self.degrees, self.degrees)))
        tx = float(rng.uniform(-self.translate, self.translate)) * w
        ty = float(rng.uniform(-self.translate, self.translate)) * h
        s = float(rng.uniform(*self.scale))
        sx = math.radians(float(rng.uniform(-self.shear, self.shear)))
        sy = math.radians(float(rng.uniform(-self.shear, self.shear)))
        # Forward map about the centre: T * C * R * Sh * S * C^-1; PIL wants the inverse.
        a = math.cos(angle - sy) / math.cos(sy)
        b = -math.cos(angle - sy) * math.tan(sx) / math.cos(sy) - math.sin(angle)
        c = math.sin(angle - sy) / math.cos(sy)
        d = -math.sin(angle - sy) * math.tan(sx) / math.cos(sy) + math.cos(angle)
        forward = np.array([[a * s, b * s], [c * s, d * s]])
        inverse = np.linalg.inv(forward)
        cx, cy = w / 2, h / 2
        offset = np.array([cx, cy]) - inverse @ np.array([cx + tx, cy + ty])
        coeffs = (*inverse[0], offset[0], *inverse[1], offset[1])
        return image.transform(
            image.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=_FILL
        )

    def _perspective(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        dw, dh = self.perspective * w / 2, self.perspective * h / 2
        start = [(0.0, 0.0), (w - 1.0, 0.0), (w - 1.0, h - 1.0), (0.0, h - 1.0)]
        end = [
            (x + sgx * float(rng.uniform(0, dw)), y + sgy * float(rng.uniform(0, dh)))
            for (x, y), (sgx, sgy) in zip(start, [(1, 1), (-1, 1), (-1, -1), (1, -1)], strict=True)
        ]
        coeffs = _perspective_coeffs(end, start)
        return image.transform(
            image.size,
            Image.Transform.PERSPECTIVE,
            coeffs,
            Image.Resampling.BILINEAR,
            fillcolor=_FILL,
        )


def _perspective_coeffs(
    dst: list[tuple[float, float]], src: list[tuple[float, float]]
) -> tuple[float, ...]:
    """PIL's 8 coefficients mapping output pixel `dst[i]` to input pixel `src[i]`."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    target = np.array([c for point in src for c in point], dtype=np.float64)
    return tuple(float(c) for c in np.linalg.solve(np.array(rows, dtype=np.float64), target))
