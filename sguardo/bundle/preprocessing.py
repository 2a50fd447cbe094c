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
from PIL import Image, ImageMode, ImageOps, UnidentifiedImageError
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


def decoded_bytes(image: Image.Image) -> int:
    """Bytes that decoding `image` (as opened, after any draft) allocates at its peak: its own
    pixel buffer, by mode and bit depth (RGBA 4, I;16 2, F 4 bytes a pixel...), plus the RGB
    copy that every other mode is converted to. A header read, nothing decoded."""
    mode = ImageMode.getmode(image.mode)
    per_pixel = np.dtype(mode.typestr).itemsize * len(mode.bands)
    if image.mode != "RGB":
        per_pixel += 3
    width, height = image.size
    return width * height * per_pixel


class ImagePreprocessor:
    def __init__(
        self,
        params: ImagePreprocessing,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_decoded_bytes: int | None = None,
        formats: Sequence[str] | None = None,
    ):
        self.params = params
        self.max_pixels = max_pixels
        # Pixels alone understate memory (a 16-bit RGBA PNG is 8 bytes a pixel before its RGB
        # copy): the service bounds the bytes decoding allocates as well. None: no such bound.
        self.max_decoded_bytes = max_decoded_bytes
        self.formats: list[str] | None = None  # None: every format PIL reads
        if formats:
            Image.init()  # registers every plugin: Image.open(formats=...) sees only loaded ones
            self.formats = [f for f in formats if f in Image.OPEN]
        self._mean = np.asarray(params.mean, dtype=np.float32).reshape(3, 1, 1)
        self._std = np.asarray(params.std, dtype=np.float32).reshape(3, 1, 1)
        self._scale = (1 / (255 * self._std)).astype(np.float32)
        self._shift = (-self._mean / self._std).astype(np.float32)

    def decode(self, data: bytes, *, min_size: int | None = None) -> Image.Image:
        """Decode bytes to an RGB image, refusing oversized images before decoding pixels.

        JPEGs are decoded at the smallest scale that keeps both sides at least
        `min_size` (default: the model's resize size); ask more to cut a larger thumbnail
        from the same, single decode.
        """
        try:
            with warnings.catch_warnings():
                # We enforce our own bound below; PIL's warning would only be noise.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image: Image.Image = Image.open(io.BytesIO(data), formats=self.formats)
                width, height = image.size  # header only: nothing decoded yet
                if width * height > self.max_pixels:
                    raise ImageDecodeError(
                        f"image is {width}x{height} = {width * height} pixels; "
                        f"the limit is {self.max_pixels}"
                    )
                # JPEG can decode directly at 1/2, 1/4, 1/8 scale: far less work for big photos.
                target = max(self.params.resize_size, min_size or 0)
                image.draft("RGB", (target, target))
                cost = decoded_bytes(image)
                if self.max_decoded_bytes is not None and cost > self.max_decoded_bytes:
                    raise ImageDecodeError(
                        f"image is {width}x{height} {image.mode}: decoding it takes {cost} "
                        f"bytes; the limit is {self.max_decoded_bytes} (send it smaller, or "
                        "as 8-bit RGB)"
                    )
                image.load()
                if image.mode != "RGB":  # before rotating, and keeps the EXIF in .info
                    image = image.convert("RGB")
                ImageOps.exif_transpose(image, in_place=True)  # no third copy
                return image
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
        """Resize the short side to `resize_size`, then cut the centre `crop_size` square, in
        one resampling pass over only the pixels the crop keeps: the same filter taps as
        resizing the whole image and cropping it, for ~half the work on a 4:3 photo."""
        p = self.params
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = p.resize_size, int(p.resize_size * long / short)
        new_width, new_height = (new_short, new_long) if width <= height else (new_long, new_short)
        top, left = (new_height - p.crop_size) // 2, (new_width - p.crop_size) // 2
        if top < 0 or left < 0:  # only when crop_size > resize_size: pad by upscaling
            if (new_width, new_height) != image.size:
                image = image.resize((new_width, new_height), _RESAMPLE[p.interpolation])
            image = image.resize((max(new_width, p.crop_size), max(new_height, p.crop_size)))
            return self.resize_and_crop(image)
        crop = (left, top, left + p.crop_size, top + p.crop_size)
        if (new_width, new_height) == image.size:
            return image.crop(crop)
        # The crop's box in source pixels: PIL centres output pixel i of a box resize on
        # box0 + (i + 0.5) * scale, exactly where the full resize puts pixel left + i.
        sx, sy = width / new_width, height / new_height
        box = (left * sx, top * sy, (left + p.crop_size) * sx, (top + p.crop_size) * sy)
        return image.resize((p.crop_size, p.crop_size), _RESAMPLE[p.interpolation], box=box)

    def to_array(self, image: Image.Image) -> np.ndarray:
        """(3, crop, crop) float32, normalised."""
        if image.mode != "RGB":  # convert() copies even an RGB image: not for nothing
            image = image.convert("RGB")
        return self._normalised(np.asarray(self.resize_and_crop(image)))

    def whole_to_array(self, image: Image.Image, short_side: int, max_side: int) -> np.ndarray:
        """(3, H, W) float32, normalised: the whole image, uncropped, its short side scaled to
        `short_side` (the long side to at most `max_side`): what a dense graph, which takes
        any size, sees of a photo."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        width, height = image.size
        scale = min(short_side / min(width, height), max_side / max(width, height))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if size != image.size:
            image = image.resize(size, _RESAMPLE[self.params.interpolation])
        return self._normalised(np.asarray(image))

    def _normalised(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 → (3, H, W) float32: (x / 255 - mean) / std as one multiply-add
        into the output buffer, no temporaries."""
        out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
        np.multiply(pixels.transpose(2, 0, 1), self._scale, out=out, casting="unsafe")
        out += self._shift
        return out

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
        # Right padding: the service cuts length groups out of one padded batch by columns.
        self._tokenizer.enable_padding(
            direction="right", pad_id=params.pad_token_id, pad_token=params.pad_token
        )

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
