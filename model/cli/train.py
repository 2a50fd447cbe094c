"""`sguardo train`: the clip-italian recipe from a config file plus `--set key=value` overrides.

Multi-GPU / multi-node: `torchrun --nproc-per-node N -m sguardo train CONFIG` (DDP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sguardo.model.cli._common import console, require_train_extra


def train(
    config: Annotated[
        Path | None,
        typer.Argument(help="training config, YAML or JSON (see model/train/config.py)"),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config key: --set lr=3e-4 --set lock_text=true"),
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option(help="where checkpoints and the model go")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help='a checkpoint file, or "latest" in the output directory')
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop after this many steps")] = None,
) -> None:
    """Train a dual encoder (symmetric InfoNCE, two freezing phases, AdaBelief + AGC)."""
    require_train_extra()
    import logging

    from pydantic import ValidationError
    from rich.logging import RichHandler

    from sguardo.model.train.config import load_train_config
    from sguardo.model.train.trainer import train as run_training

    logging.basicConfig(
        level=logging.INFO, handlers=[RichHandler(console=console)], format="%(message)s"
    )
    items = list(overrides or [])
    for key, value in (("output_dir", output_dir), ("resume", resume), ("max_steps", max_steps)):
        if value is not None:
            items.append(f"{key}={value}")
    try:
        cfg = load_train_config(config, items)
    except (ValidationError, ValueError, OSError) as exc:
        console.print(f"[red]invalid training config:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        result = run_training(cfg)
    except ValueError as exc:
        console.print(f"[red]training failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(
        f"trained {result.steps} steps in {result.seconds:.0f} s; final loss "
        f"{result.losses[-1] if result.losses else float('nan'):.4f}; "
        f"model in {result.output_dir / 'model'}"
    )
