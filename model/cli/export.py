"""`sguardo export`: write a model bundle from a saved dual encoder, a preset, or a published
Hugging Face VisionTextDualEncoder checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sguardo.model.cli._common import console, require_train_extra


def export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="bundle directory [default: the demo bundle's cache]"),
    ] = None,
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="saved dual encoder (sguardo_model.json)")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="named architecture with fresh heads, e.g. e5-small-effnet-lite0"),
    ] = None,
    hf_dual_encoder: Annotated[
        str | None,
        typer.Option(help="VisionTextDualEncoderModel hub id or directory (clip-italian format)"),
    ] = None,
    int8: Annotated[bool, typer.Option("--int8", help="also write INT8 (dynamic) graphs")] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="also write fp16 graphs (GPU)")] = False,
    parity_images: Annotated[
        Path | None, typer.Option(help="directory of real images for the parity gate")
    ] = None,
    parity_captions: Annotated[
        Path | None, typer.Option(help="text file, one Italian caption a line, for the gate")
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(
            help='evaluation metrics for bundle.json: JSON {"name": value} or {"metrics": {...}}'
        ),
    ] = None,
    checkpoint: Annotated[
        str,
        typer.Option(
            help="training checkpoint in the bundle: auto (heads only when the backbones are "
            "published ones), heads, full or none"
        ),
    ] = "auto",
    overwrite: Annotated[bool, typer.Option(help="replace an existing bundle")] = False,
) -> None:
    """Export both towers to ONNX, check them against PyTorch, write the bundle.

    With no model option the default demo model is exported.
    """
    require_train_extra()
    from sguardo.model.demo import load_demo_model
    from sguardo.model.export import parity_inputs
    from sguardo.model.export.bundle_export import ExportOptions, export_bundle
    from sguardo.model.export.parity import ParityError

    if sum(x is not None for x in (model_dir, preset, hf_dual_encoder)) > 1:
        console.print("[red]error:[/red] give at most one of --model, --preset, --hf-dual-encoder")
        raise typer.Exit(2)
    if checkpoint not in ("auto", "heads", "full", "none"):
        console.print(
            f"[red]error:[/red] --checkpoint {checkpoint!r}: use auto, heads, full or none"
        )
        raise typer.Exit(2)
    metric_values = _read_metrics(metrics) if metrics is not None else {}
    model = _load_model(model_dir, preset, hf_dual_encoder) or load_demo_model()
    if checkpoint == "auto" and model_dir is not None and _saved_backbones(model_dir):
        checkpoint = "full"  # a fine-tuned model keeps its hub ids: its saved towers decide
    images = (
        parity_inputs.images_from_dir(parity_images)
        if parity_images
        else parity_inputs.default_images()
    )
    captions = (
        parity_inputs.captions_from_file(parity_captions)
        if parity_captions
        else parity_inputs.default_captions()
    )
    from sguardo.bundle.paths import demo_bundle_dir

    try:
        result = export_bundle(
            model,
            output or demo_bundle_dir(),
            captions,
            images,
            ExportOptions(
                int8=int8,
                fp16=fp16,
                overwrite=overwrite,
                metrics=metric_values,
                checkpoint=checkpoint,  # type: ignore[arg-type]
            ),
        )
    except (ParityError, FileExistsError, ValueError) as exc:
        console.print(f"[red]export failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    from sguardo.bundle.describe import render

    Console().print(render(result.manifest, result.directory))
    console.print(
        f"wrote {result.directory} ({result.bytes_on_disk / 1e6:.1f} MB) in {result.seconds:.1f} s"
    )


def _load_model(model_dir: Path | None, preset: str | None, hf_dual_encoder: str | None):
    from sguardo.model.config import PRESETS
    from sguardo.model.dual_encoder import DualEncoder
    from sguardo.model.hf_import import from_vision_text_dual_encoder

    if model_dir is not None:
        return DualEncoder.load(model_dir)
    if hf_dual_encoder is not None:
        return from_vision_text_dual_encoder(hf_dual_encoder)
    if preset is not None:
        if preset not in PRESETS:
            console.print(
                f"[red]error:[/red] unknown preset {preset!r}; known: {', '.join(PRESETS)}"
            )
            raise typer.Exit(2)
        return DualEncoder.from_config(PRESETS[preset])
    return None


def _saved_backbones(model_dir: Path) -> bool:
    return (model_dir / "text").is_dir() or (model_dir / "vision").is_dir()


def _read_metrics(path: Path) -> dict[str, float]:
    """`{"name": value}`, or a file with a `metrics` object (training.json, eval reports)."""
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            data = data["metrics"]
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of metric name -> number")
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, TypeError) as exc:
        console.print(f"[red]error:[/red] cannot read metrics from {path}: {exc}")
        raise typer.Exit(2) from exc
