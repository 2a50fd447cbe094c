"""A loaded bundle: its directory, manifest and the preprocessors it parameterises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sguardo.bundle.manifest import BundleError, Manifest, Precision, Tower, read_manifest
from sguardo.bundle.preprocessing import DEFAULT_MAX_PIXELS, ImagePreprocessor, TextTokenizer


@dataclass(frozen=True)
class Bundle:
    directory: Path
    manifest: Manifest

    @classmethod
    def load(cls, directory: str | Path, *, verify_hashes: bool = True) -> Bundle:
        directory = Path(directory)
        return cls(directory, read_manifest(directory, verify_hashes=verify_hashes))

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def bundle_id(self) -> str:
        """Model id plus content hash: what a collection records to refuse mixing models."""
        return f"{self.manifest.model_id}@{self.manifest.content_hash}"

    def onnx_path(self, tower: Tower, precision: Precision = "fp32") -> Path:
        variant = self.manifest.variants.get(precision)
        if variant is None:
            available = ", ".join(self.manifest.variants)
            raise BundleError(
                f"bundle {self.directory} has no {precision} variant (it has: {available}); "
                f"re-export with `sguardo export --{precision}` or pick another precision."
            )
        return self.directory / (variant.text if tower == "text" else variant.vision)

    @property
    def dense_vision_path(self) -> Path | None:
        """The dense vision graph (see `manifest.DenseVision`), when the bundle has one."""
        dense = self.manifest.dense_vision
        return None if dense is None else self.directory / dense.file

    def tokenizer(self) -> TextTokenizer:
        return TextTokenizer.from_file(
            self.directory / self.manifest.text.tokenizer_file, self.manifest.text
        )

    def image_preprocessor(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImagePreprocessor:
        return ImagePreprocessor(self.manifest.image, max_pixels=max_pixels)
