"""The one implementation of preprocessing, parameterised by the bundle.

Image decode/resize/crop/normalise and tokenisation live here, torch-free, so that
training's evaluation path, the exporter's parity gate and the service all produce
the same tensors from the same inputs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tokenizers import Tokenizer

from sguardo.bundle.manifest import ImagePreprocessing, TextPreprocessing
from sguardo.bundle.tensors import ATTENTION_MASK, INPUT_IDS

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}
DEFAULT_MAX_PIXELS = 40_000_000


class ImageDecodeError(ValueError):
    """The bytes are not an image we accept (unreadable, too large, a decompression bomb)."""


class ImagePreprocessor:
    def __init__(self, params: ImagePreprocessing, *, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.params = params
        self.max_pixels = max_pixels
        self._mean = np.asarray(params.mean, dtype=np.float32).reshape(3, 1, 1)
        self._std = np.asarray(params.std, dtype=np.float32).reshape(3, 1, 1)

    def decode(self, data: bytes) -> Image.Image:
        """Decode bytes to an RGB image, refusing oversized images before decoding pixels."""
        try:
            with warnings.catch_warnings():
                # We enforce our own bound below; PIL's warning would only be noise.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image: Image.Image = Image.open(io.BytesIO(data))
                width, height = image.size  # header only: nothing decoded yet
                if width * height > self.max_pixels:
                    raise ImageDecodeError(
                        f"image is {width}x{height} = {width * height} pixels; "
                        f"the limit is {self.max_pixels}"
                    )
                # JPEG can decode directly at 1/2, 1/4, 1/8 scale: far less work for big photos.
                target = self.params.resize_size
                image.draft("RGB", (target, target))
                image = ImageOps.exif_transpose(image)
                return image.convert("RGB")
        except ImageDecodeError:
            raise
        except UnidentifiedImageError as exc:
            # PIL's own message names an internal BytesIO object: useless to a caller.
            raise ImageDecodeError("not a readable image: unrecognised image format") from exc
        except Image.DecompressionBombError as exc:
            raise ImageDecodeError(f"not a readable image: {exc}") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageDecodeError(f"corrupt or truncated image: {exc}") from exc

    def resize_and_crop(self, image: Image.Image) -> Image.Image:
        p = self.params
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = p.resize_size, int(p.resize_size * long / short)
        size = (new_short, new_long) if width <= height else (new_long, new_short)
        if size != image.size:
            image = image.resize(size, _RESAMPLE[p.interpolation])
        width, height = image.size
        top, left = (height - p.crop_size) // 2, (width - p.crop_size) // 2
        if top < 0 or left < 0:  # only when crop_size > resize_size: pad by upscaling
            image = image.resize((max(width, p.crop_size), max(height, p.crop_size)))
            return self.resize_and_crop(image)
        return image.crop((left, top, left + p.crop_size, top + p.crop_size))

    def to_array(self, image: Image.Image) -> np.ndarray:
        """(3, crop, crop) float32, normalised."""
        pixels = np.asarray(self.resize_and_crop(image.convert("RGB")), dtype=np.float32)
        chw = pixels.transpose(2, 0, 1) / 255.0
        return ((chw - self._mean) / self._std).astype(np.float32)

    def __call__(self, data: bytes) -> np.ndarray:
        return self.to_array(self.decode(data))

    def batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(batch, 3, crop, crop) float32 from already-decoded images."""
        return np.stack([self.to_array(image) for image in images])


class TextTokenizer:
    """Tokenisation with truncation and padding to the longest item of the batch."""

    def __init__(self, tokenizer: Tokenizer, params: TextPreprocessing):
        self.params = params
        self._tokenizer = tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=params.max_length)
        self._tokenizer.enable_padding(pad_id=params.pad_token_id, pad_token=params.pad_token)

    @classmethod
    def from_file(cls, path: Path, params: TextPreprocessing) -> TextTokenizer:
        return cls(Tokenizer.from_file(str(path)), params)

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self._tokenizer.encode_batch([self.params.prefix + t for t in texts])
        return {
            INPUT_IDS: np.asarray([e.ids for e in encodings], dtype=np.int64),
            ATTENTION_MASK: np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        }

    def count_tokens(self, text: str) -> int:
        """Tokens the model would see for `text`, after truncation."""
        return len(self._tokenizer.encode(self.params.prefix + text).ids)
