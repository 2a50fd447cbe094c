"""`sguardo benchmark offline`: train the demo heads on real data, report before/after."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sguardo.model.cli._common import console, default_data_dir, require_train_extra

SOURCES = ("imagenet", "caltech", "flickr8k", "coco-captions", "coco-labels")  # sets.SOURCES

CI_COLUMNS = ("current", "after")  # the columns measured with bootstrap intervals

app = typer.Typer(help="Quality benchmarks on real data.", no_args_is_help=True)


@app.command()
def offline(
    data: Annotated[
        Path | None,
        typer.Option(help="the shared data folder [default: $SGUARDO_DATA_DIR or ../shared/data]"),
    ] = None,
    embed_dim: Annotated[int, typer.Option(help="joint embedding size")] = 128,
    epochs: Annotated[int, typer.Option(help="passes over the training images")] = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    views: Annotated[int, typer.Option(help="crops per training image (1 clean + augmented)")] = 4,
    train_templates: Annotated[int, typer.Option(help="caption templates per train class")] = 8,
    seed: int = 0,
    holdout_classes: Annotated[
        int, typer.Option(help="evaluate on N held-out train classes, not dev (tuning)")
    ] = 0,
    logit_scale: Annotated[float, typer.Option(help="fixed softmax temperature (scale)")] = 20.0,
    class_positives: Annotated[
        bool, typer.Option(help="photos of one class in a batch are positives, not negatives")
    ] = False,
    whiten: Annotated[int, typer.Option(help="PCA-whiten features to N components (0: off)")] = 0,
    sources: Annotated[
        str, typer.Option(help="comma-separated training sources [default: all]")
    ] = ",".join(SOURCES),
    flickr_holdout: Annotated[
        int, typer.Option(help="Flickr8k photos held out for the retrieval figure")
    ] = 200,
    pointing_steps: Annotated[
        int, typer.Option(help="steps of the pointing stage on coco128's boxes (0: off)")
    ] = 300,
    pointing_holdout: Annotated[
        int, typer.Option(help="coco128 train2017 photos kept out of the pointing stage (tuning)")
    ] = 0,
    ablations: Annotated[
        bool, typer.Option(help="also train once without each source (one row per source)")
    ] = False,
    write_demo: Annotated[
        bool, typer.Option(help="write the trained heads over the installed demo model's")
    ] = False,
    demo_dir: Annotated[Path | None, typer.Option(help="write the heads here instead")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Zero-shot on the 100 unseen dev classes (single photos and all dev photos), Flickr8k
    held-out caption retrieval and coco128 label→image retrieval: freshly initialised heads,
    the demo model's current heads and the newly trained ones (backbones locked)."""
    require_train_extra()
    from sguardo.model.benchmarks.offline import OfflineOptions, run_offline_benchmark
    from sguardo.model.demo_model import DEMO_MODEL_DIR
    from sguardo.model.train.heads import HeadTrainingConfig
    from sguardo.model.train.pointing import PointingConfig

    data = data or default_data_dir()
    if not (data / "imagenet-sample-it" / "labels.tsv").is_file():
        console.print(
            f"[red]no benchmark data under {data}[/red]: pass --data or set SGUARDO_DATA_DIR"
        )
        raise typer.Exit(2)
    options = OfflineOptions(
        data_dir=data,
        embed_dim=embed_dim,
        views=views,
        train_templates=train_templates,
        heads=HeadTrainingConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            whiten_components=whiten,
            class_positives=class_positives,
        ),
        seed=seed,
        holdout_classes=holdout_classes,
        logit_scale=logit_scale,
        sources=tuple(s.strip() for s in sources.split(",") if s.strip()),
        flickr_holdout=flickr_holdout,
        ablations=ablations,
        current_heads=DEMO_MODEL_DIR,
        pointing=PointingConfig(steps=pointing_steps, seed=seed) if pointing_steps > 0 else None,
        pointing_holdout=pointing_holdout,
    )
    unknown = set(options.sources) - set(SOURCES)
    if unknown or not options.sources:
        console.print(f"[red]unknown sources {sorted(unknown)}[/red]; known: {', '.join(SOURCES)}")
        raise typer.Exit(2)
    target = demo_dir or (DEMO_MODEL_DIR if write_demo else None)
    if target is not None and not _writable(target):
        console.print(f"[red]cannot write the heads to {target}[/red]: pass --demo-dir DIR")
        raise typer.Exit(2)
    result = run_offline_benchmark(options, demo_dir=target)
    if as_json:
        print(
            json.dumps(
                {
                    "before": result.before,
                    "after": result.after,
                    "seconds": result.seconds,
                    "training": result.training,
                    "current": result.current,
                    "contrastive": result.contrastive,
                    "intervals": result.intervals,
                    "ablations": result.ablations,
                },
                indent=2,
            )
        )
        return
    _print_tables(result)
    times = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
    console.print(f"time: {times}")
    if target is not None:
        console.print(f"wrote the trained heads to {target}")


def _writable(directory: Path) -> bool:
    """Checked before the long run: an installed package may live on a read-only path."""
    existing = next((p for p in (directory, *directory.parents) if p.exists()), Path("/"))
    return os.access(existing, os.W_OK)


def _cell(value: float, interval: tuple[float, float] | None) -> str:
    if interval is None:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * interval[0]:.1f}–{100 * interval[1]:.1f}]"


def _print_tables(result) -> None:  # result: OfflineResult
    from sguardo.model.benchmarks.offline import HEADLINE

    table = Table(title="offline benchmark (e5-small + EfficientNet-Lite0, heads trained), %")
    table.add_column("metric")
    columns = [
        ("before", result.before),
        ("current", result.current),
        ("contrastive stage", result.contrastive),
        ("after", result.after),
    ]
    columns = [(name, values) for name, values in columns if values is not None]
    for name, _ in columns:
        table.add_column(name + (" [95% CI]" if name in CI_COLUMNS else ""), justify="right")
    for key in result.after:
        cells = [
            _cell(
                values[key], result.intervals.get(name, {}).get(key) if name in CI_COLUMNS else None
            )
            for name, values in columns
        ]
        table.add_row(key, *cells)
    Console().print(table)
    if result.ablations:
        shown = [k for k in HEADLINE if k in result.after] or list(result.after)[:5]
        ablation = Table(title="ablation: trained without one source, %")
        ablation.add_column("training data")
        for key in shown:
            ablation.add_column(key, justify="right")
        ablation.add_row("all sources", *(f"{100 * result.after[k]:.1f}" for k in shown))
        for name, report in result.ablations.items():
            ablation.add_row(name, *(f"{100 * report[k]:.1f}" for k in shown))
        Console().print(ablation)
