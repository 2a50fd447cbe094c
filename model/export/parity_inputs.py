"""Real inputs for the parity gate when none are given: photos that scikit-image ships and
Italian captions packaged with Sguardo."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

_CAPTIONS = Path(__file__).with_name("parity_captions_it.txt")
_SKIMAGE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "colorwheel",
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def default_captions() -> list[str]:
    return [line.strip() for line in _CAPTIONS.read_text().splitlines() if line.strip()]


def default_images() -> list[bytes]:
    import skimage.data

    images = []
    for name in _SKIMAGE_PHOTOS:
        array = np.asarray(getattr(skimage.data, name)())
        buffer = io.BytesIO()
        Image.fromarray(array).convert("RGB").save(buffer, format="JPEG", quality=92)
        images.append(buffer.getvalue())
    return images


def images_from_dir(directory: Path, limit: int = 16) -> list[bytes]:
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {directory}")
    step = max(1, len(files) // limit)
    return [p.read_bytes() for p in files[::step][:limit]]


def captions_from_file(path: Path, limit: int = 32) -> list[str]:
    """One caption a line, or COCO caption JSON (MSCOCO-IT's format, optionally gzipped),
    sampled evenly across the file."""
    if path.name.endswith((".json", ".json.gz")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            lines = [a["caption"].strip() for a in json.load(fh)["annotations"]]
    else:
        lines = [line.strip() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"{path} has no captions")
    return lines[:: max(1, len(lines) // limit)][:limit]
