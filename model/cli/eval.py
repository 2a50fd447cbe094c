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


def _show(
    title: str,
    source: str,
    report: dict[str, float],
    as_json: bool,
    intervals: dict[str, tuple[float, float]] | None = None,
    bootstrap: dict[str, int] | None = None,
) -> None:
    if as_json:
        out: dict[str, object] = {"evaluation": title, "model": source, "metrics": report}
        if intervals:
            out["ci95"] = {k: list(v) for k, v in intervals.items()}
            out["bootstrap"] = bootstrap
        print(json.dumps(out, indent=2))
        return
    table = Table(title=f"{title} — {source}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if intervals:
        table.add_column("95% interval (bootstrap)", justify="right")
    for key, value in report.items():
        shown = f"{value:.0f}" if key in ("classes", "images", "captions") else f"{value:.4f}"
        row = [key, shown]
        if intervals:
            low_high = intervals.get(key)
            row.append(f"{low_high[0]:.4f}–{low_high[1]:.4f}" if low_high else "")
        table.add_row(*row)
    Console().print(table)


@app.command()
def zeroshot(
    labels: Annotated[Path, typer.Option(help="labels TSV (one class a row)")],
    images: Annotated[
        Path, typer.Option(help="image folder: <id><suffix> per row, or the --image-list root")
    ],
    split: Annotated[str | None, typer.Option(help="only rows whose split column is this")] = None,
    templates: Annotated[
        Path | None, typer.Option(help="templates file [default: templates_it.txt beside labels]")
    ] = None,
    id_column: str = "wnid",
    label_column: str = "italian",
    split_column: str = "split",
    suffix: str = ".jpg",
    image_list: Annotated[
        Path | None,
        typer.Option(
            help="TSV with a header, columns `file` (relative to --images) and the --id-column:"
            " several photos per class; candidates stay every class of --labels after --split"
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="bootstrap resamples for the 95% intervals (0: none)")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    model: ModelOption = None,
    bundle: BundleOption = None,
    precision: PrecisionOption = "fp32",
    as_json: JsonOption = False,
) -> None:
    """Zero-shot accuracy@1/5/10/100 with bootstrap 95% intervals: each class is the mean of
    its template embeddings."""
    from sguardo.model.data.readers import read_templates
    from sguardo.model.eval.zeroshot import (
        evaluate_zeroshot_with_intervals,
        load_image_list,
        load_labelled_images,
    )

    template_file = templates or labels.parent / "templates_it.txt"
    try:
        prompts = read_templates(template_file) if template_file.is_file() else ["una foto di {}"]
        if image_list is not None:
            data = load_image_list(
                labels,
                images,
                image_list,
                split=split,
                id_column=id_column,
                label_column=label_column,
                split_column=split_column,
            )
        else:
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
    report, intervals = evaluate_zeroshot_with_intervals(
        embedder, data, prompts, resamples=bootstrap, seed=seed
    )
    _show(
        f"zero-shot ({len(data.labels)} classes, {len(prompts)} templates)",
        embedder.name,
        report,
        as_json,
        intervals,
        {"resamples": bootstrap, "seed": seed},
    )


@app.command("image-list")
def image_list_command(
    data: Annotated[
        Path | None,
        typer.Option(help="the shared data folder [default: $SGUARDO_DATA_DIR or ../shared/data]"),
    ] = None,
    split: Annotated[str, typer.Option(help="the ImageNet split: dev or train")] = "dev",
    extra: Annotated[bool, typer.Option(help="add imagenet-extra's photos of the split")] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here [default: stdout]")
    ] = None,
) -> None:
    """The `--image-list` of the ImageNet photos of a split, from the data's own tables:
    imagenet-sample-it's one photo per class, then imagenet-extra's (paths relative to --data,
    so pass `--images DATA` to `zeroshot`)."""
    from sguardo.model.cli._common import default_data_dir
    from sguardo.model.data.shared_sets import imagenet_photos, write_image_list

    data = data or default_data_dir()
    try:
        text = write_image_list(imagenet_photos(data, split, extra=extra), output)
    except (OSError, KeyError) as exc:
        console.print(f"[red]cannot read the ImageNet tables under {data}:[/red] {exc}")
        raise typer.Exit(2) from exc
    if output is None:
        print(text, end="")


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
