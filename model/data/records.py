"""One image and its captions: what every reader yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImageCaptions:
    """An image (a file, or bytes already read from a shard) and the captions describing it."""

    image: Path | str
    captions: tuple[str, ...]
    data: bytes | None = field(default=None, repr=False, compare=False)
    label: int | None = None

    def read_bytes(self) -> bytes:
        """The encoded image; raises OSError when the file is missing or unreadable."""
        return self.data if self.data is not None else Path(self.image).read_bytes()

    def with_captions(self, captions: tuple[str, ...]) -> ImageCaptions:
        return ImageCaptions(self.image, captions, self.data, self.label)
