"""The model bundle manifest (`bundle.json`): the one contract between training and serving.

Torch-free on purpose: the service imports this module.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
MANIFEST_NAME = "bundle.json"
Tower = Literal["text", "vision"]
Precision = Literal["fp32", "fp16", "int8"]


class BundleError(Exception):
    """A bundle that cannot be used; the message says what is wrong and what to do."""


class TextPreprocessing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokenizer_file: str = "tokenizer.json"
    max_length: int = Field(64, ge=2, le=8192)
    # Some encoders expect an instruction prefix (multilingual-e5: "query: ").
    prefix: str = ""
    pad_token_id: int = 0
    pad_token: str = "[PAD]"


class ImagePreprocessing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Shortest side is resized to `resize_size`, then a centred `crop_size` square is cut.
    resize_size: int = Field(224, ge=8, le=4096)
    crop_size: int = Field(224, ge=8, le=4096)
    interpolation: Literal["bicubic", "bilinear", "nearest"] = "bicubic"
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)


class TowerParity(BaseModel):
    """How far ONNX Runtime is from PyTorch on real inputs, per row."""

    min_cosine: float
    mean_cosine: float
    max_abs_diff: float
    batch_sizes: list[int]
    rows: int
    threshold: float


class VariantFiles(BaseModel):
    text: str
    vision: str


class DenseVision(BaseModel):
    """The optional third graph: the vision tower before its pooling, for POST /localize.

    Written only for towers whose pooling is a mean over locations at any input size (a CNN);
    input `pixel_values` (batch, 3, H, W) with H, W ≥ `min_side`, output `DENSE_OUTPUT`
    (batch, rows, cols, dim). `stride`: location (i, j) is centred on input pixel
    (stride·i, stride·j), as symmetric padding puts it; bundles written before the field
    existed are EfficientNet-Lite0's 32.
    """

    model_config = ConfigDict(extra="forbid")

    file: str = "vision_dense.onnx"
    min_side: int = Field(32, ge=1)
    stride: int = Field(32, ge=1)
    parity: TowerParity | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    model_id: str
    content_hash: str = ""
    embedding_dim: int = Field(ge=1)
    files: dict[str, str] = Field(default_factory=dict, description="file name -> sha256")
    variants: dict[Precision, VariantFiles]
    text: TextPreprocessing
    image: ImagePreprocessing
    parity: dict[Precision, dict[Tower, TowerParity]] = Field(default_factory=dict)
    # Evaluation results by name (e.g. "dev/accuracy@1"), as the exporter was given them.
    metrics: dict[str, float] = Field(default_factory=dict)
    # exp of the trained temperature: zero-shot softmax sharpness (see `scoring`).
    logit_scale: float | None = Field(None, gt=0)
    # Folder (relative) holding the training checkpoint (`DualEncoder.save`) the next
    # retraining starts from; its files are hashed in `files` like the graphs.
    checkpoint: str | None = None
    dense_vision: DenseVision | None = None
    source: dict[str, str] = Field(default_factory=dict)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    sguardo_version: str = ""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(files: dict[str, str]) -> str:
    """One id for the bundle's content: order-independent hash of (name, file hash) pairs."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\n".encode())
    return digest.hexdigest()[:16]


def write_manifest(directory: Path, manifest: Manifest) -> Manifest:
    """Hash every file the manifest references and write `bundle.json`."""
    referenced = {manifest.text.tokenizer_file}
    for variant in manifest.variants.values():
        referenced.update((variant.text, variant.vision))
    if manifest.dense_vision is not None:
        referenced.add(manifest.dense_vision.file)
    if manifest.checkpoint is not None:
        folder = directory / manifest.checkpoint
        if not folder.is_dir():
            raise BundleError(f"{folder}: the checkpoint folder named in the manifest is missing")
        referenced.update(
            path.relative_to(directory).as_posix() for path in folder.rglob("*") if path.is_file()
        )
    files = {name: sha256_file(directory / name) for name in sorted(referenced)}
    final = manifest.model_copy(update={"files": files, "content_hash": content_hash(files)})
    (directory / MANIFEST_NAME).write_text(final.model_dump_json(indent=2) + "\n")
    return final


def read_manifest(directory: Path, *, verify_hashes: bool = True) -> Manifest:
    """Load and check a bundle's manifest; raise `BundleError` with the reason when unusable."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(
            f"{directory} is not a model bundle: {MANIFEST_NAME} is missing. "
            "Create one with `sguardo export`."
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{path} has schema version {version!r}; this Sguardo reads version "
            f"{SCHEMA_VERSION}. Re-export the bundle with this version of `sguardo export`."
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise BundleError(f"{path} is not a valid manifest: {exc}") from exc
    if verify_hashes:
        verify_files(Path(directory), manifest)
    return manifest


def verify_files(directory: Path, manifest: Manifest) -> None:
    missing = [name for name in manifest.files if not (directory / name).is_file()]
    if missing:
        raise BundleError(f"bundle {directory} is incomplete: missing {', '.join(missing)}")
    altered = [
        name
        for name, expected in manifest.files.items()
        if sha256_file(directory / name) != expected
    ]
    if altered:
        raise BundleError(
            f"bundle {directory} was altered after export: {', '.join(altered)} "
            "do not match the hashes in bundle.json. Re-export it."
        )
    if content_hash(manifest.files) != manifest.content_hash:
        raise BundleError(f"bundle {directory}: content_hash does not match its file list")
