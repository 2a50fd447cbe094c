"""`sguardo eval zeroshot|retrieval`: clip-italian's measures on a saved model (PyTorch) or an
exported bundle (ONNX Runtime; default: the demo bundle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sguardo.model.cli._common import console

app = typer.Typer(
    help="Evaluate a model or bundle: zero-shot classification, retrieval.", no_args_is_help=True
)

ModelOption = Annotated[
    Path | None, typer.Option("--model", help="saved dual encoder directory (PyTorch)")
]
BundleOption = Annotated[
    Path | None, typer.Option("--bundle", help="bundle directory [default: the demo bundle]")
]
PrecisionOption = Annotated[str, typer.Option(help="bundle variant: fp32, fp16 or int8")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _embedder(model: Path | None, bundle: Path | None, precision: str):
    from sguardo.bundle.manifest import BundleError

    if model is not None and bundle is not None:
        console.print("[red]error:[/red] give --model or --bundle, not both")
        raise typer.Exit(2)
    if model is not None:
        from sguardo.model.cli._common import require_train_extra

        require_train_extra()
        from sguardo.model.eval.embedders import TorchEmbedder

        return TorchEmbedder.load(model)
    from sguardo.bundle.paths import demo_bundle_dir
    from sguardo.model.eval.embedders import OnnxEmbedder

    directory = bundle or demo_bundle_dir()
    try:
        return OnnxEmbedder.load(directory, precision)  # type: ignore[arg-type]
    except (BundleError, FileNotFoundError) as exc:
        hint = "" if bundle else " (run `sguardo export` to write the demo bundle)"
        console.print(f"[red]cannot load bundle {directory}:[/red] {exc}{hint}")
        raise typer.Exit(1) from exc


def _show(title: str, source: str, report: dict[str, float], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"evaluation": title, "model": source, "metrics": report}, indent=2))
        return
    table = Table(title=f"{title} — {source}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.items():
        shown = f"{value:.0f}" if key in ("classes", "images", "captions") else f"{value:.4f}"
        table.add_row(key, shown)
    Console().print(table)


@app.command()
def zeroshot(
    labels: Annotated[Path, typer.Option(help="labels TSV (one class a row)")],
    images: Annotated[Path, typer.Option(help="image folder: <id><suffix> per row")],
    split: Annotated[str | None, typer.Option(help="only rows whose split column is this")] = None,
    templates: Annotated[
        Path | None, typer.Option(help="templates file [default: templates_it.txt beside labels]")
    ] = None,
    id_column: str = "wnid",
    label_column: str = "italian",
    split_column: str = "split",
    suffix: str = ".jpg",
    model: ModelOption = None,
    bundle: BundleOption = None,
    precision: PrecisionOption = "fp32",
    as_json: JsonOption = False,
) -> None:
    """Zero-shot accuracy@1/5/10/100: each class is the mean of its template embeddings."""
    from sguardo.model.data.readers import read_templates
    from sguardo.model.eval.zeroshot import evaluate_zeroshot, load_labelled_images

    template_file = templates or labels.parent / "templates_it.txt"
    try:
        prompts = read_templates(template_file) if template_file.is_file() else ["una foto di {}"]
        data = load_labelled_images(
            labels,
            images,
            split=split,
            id_column=id_column,
            label_column=label_column,
            split_column=split_column,
            suffix=suffix,
        )
    except (OSError, KeyError, ValueError) as exc:
        console.print(f"[red]cannot read the evaluation data:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not data.images:
        console.print(f"[red]no images found[/red] under {images} for {labels}")
        raise typer.Exit(2)
    embedder = _embedder(model, bundle, precision)
    report = evaluate_zeroshot(embedder, data, prompts)
    _show(
        f"zero-shot ({len(data.labels)} classes, {len(prompts)} templates)",
        embedder.name,
        report,
        as_json,
    )


@app.command()
def retrieval(
    captions: Annotated[Path, typer.Option(help='JSONL: {"image": "rel.jpg", "captions": [...]}')],
    images: Annotated[Path, typer.Option(help="folder the image paths are relative to")],
    model: ModelOption = None,
    bundle: BundleOption = None,
    precision: PrecisionOption = "fp32",
    as_json: JsonOption = False,
) -> None:
    """Text→image and image→text MRR@1/5/10 and Recall@1/5/10."""
    from sguardo.model.data.readers import read_jsonl
    from sguardo.model.eval.retrieval import evaluate_retrieval, retrieval_set

    try:
        data = retrieval_set(read_jsonl(captions, images))
    except OSError as exc:
        console.print(f"[red]cannot read {captions}:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not data.images:
        console.print(f"[red]no readable images[/red] for {captions} under {images}")
        raise typer.Exit(2)
    embedder = _embedder(model, bundle, precision)
    _show("retrieval", embedder.name, evaluate_retrieval(embedder, data), as_json)
