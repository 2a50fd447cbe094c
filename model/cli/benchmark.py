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

app = typer.Typer(help="Quality benchmarks on real data.", no_args_is_help=True)


@app.command()
def offline(
    data: Annotated[
        Path | None,
        typer.Option(help="the shared data folder [default: $SGUARDO_DATA_DIR or ../shared/data]"),
    ] = None,
    embed_dim: Annotated[int, typer.Option(help="joint embedding size")] = 128,
    epochs: Annotated[int, typer.Option(help="passes over the training images")] = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    views: Annotated[int, typer.Option(help="crops per training image (1 clean + augmented)")] = 4,
    train_templates: Annotated[int, typer.Option(help="caption templates per train class")] = 8,
    seed: int = 0,
    holdout_classes: Annotated[
        int, typer.Option(help="evaluate on N held-out train classes, not dev (tuning)")
    ] = 0,
    write_demo: Annotated[
        bool, typer.Option(help="write the trained heads over the installed demo model's")
    ] = False,
    demo_dir: Annotated[Path | None, typer.Option(help="write the heads here instead")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Zero-shot on imagenet-sample-it's 100 unseen dev classes and coco128 label→image
    retrieval, before and after training the projection heads (backbones locked)."""
    require_train_extra()
    from sguardo.model.benchmarks.offline import OfflineOptions, run_offline_benchmark
    from sguardo.model.demo_model import DEMO_MODEL_DIR
    from sguardo.model.train.heads import HeadTrainingConfig

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
        heads=HeadTrainingConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
        seed=seed,
        holdout_classes=holdout_classes,
    )
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
                },
                indent=2,
            )
        )
        return
    table = Table(title="offline benchmark (e5-small + EfficientNet-Lite0, heads trained)")
    table.add_column("metric")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for key, after in result.after.items():
        table.add_row(key, f"{100 * result.before[key]:.1f}", f"{100 * after:.1f}")
    Console().print(table)
    times = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
    console.print(f"time: {times}")
    if target is not None:
        console.print(f"wrote the trained heads to {target}")


def _writable(directory: Path) -> bool:
    """Checked before the long run: an installed package may live on a read-only path."""
    existing = next((p for p in (directory, *directory.parents) if p.exists()), Path("/"))
    return os.access(existing, os.W_OK)
