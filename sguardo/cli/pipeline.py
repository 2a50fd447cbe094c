"""`sguardo pipeline nightly`: retrain, gate and roll out a model (see sguardo/pipeline/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="The nightly retraining pipeline.", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def nightly(
    config: Annotated[Path, typer.Option("--config", "-c", help="pipeline config (YAML)")],
    run_dir: Annotated[
        Path | None,
        typer.Option(help="run directory (default: RUNS_DIR/UTC-DATE); the same one resumes"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="promote even if the gate rejects the candidate")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Collect → clean → train → export → evaluate → gate → reindex → verify → swap → promote.

    Exit code: 0 promoted, 3 rejected by the gate (nothing changed), 1 failed (nothing
    changed unless it failed after the swap; run the same command again to resume),
    2 bad usage or config. The report is <run dir>/report.json.
    """
    from pydantic import ValidationError

    from sguardo.pipeline.config import load_config
    from sguardo.pipeline.nightly import Nightly, default_run_dir
    from sguardo.pipeline.view import show_report

    try:
        settings = load_config(config)
    except (OSError, ValueError, ValidationError) as exc:
        console.print(
            f"[red]error:[/red] cannot read the pipeline config {config}: {escape(str(exc))}"
        )
        raise typer.Exit(2) from exc
    directory = run_dir or default_run_dir(settings)
    console.print(f"run directory: {directory}")
    result = Nightly(settings, directory, force=force, console=console).run()
    if as_json:
        print(json.dumps(result.report, indent=2, ensure_ascii=False))
    else:
        show_report(console, result.report)
    raise typer.Exit(result.exit_code)


@app.command()
def sandbox(
    directory: Annotated[Path, typer.Argument(help="where the sandbox is made (a fresh folder)")],
    data: Annotated[
        Path, typer.Option(help="the shared data folder", envvar="SGUARDO_DATA_DIR")
    ] = Path("../shared/data"),
    gallery: Annotated[int, typer.Option(min=1, help="photos indexed into the gallery")] = 200,
    flickr_images: Annotated[int, typer.Option(min=1, help="new captioned photos")] = 1000,
) -> None:
    """A registry (the demo model current), a gallery and a config for one real night."""
    from sguardo.pipeline.sandbox import build_sandbox

    if not data.is_dir():
        console.print(f"[red]error:[/red] no data folder at {data}: give --data")
        raise typer.Exit(2)
    made = build_sandbox(directory, data.resolve(), gallery=gallery, flickr_images=flickr_images)
    console.print(
        f"registry current: {made['current']}; gallery: {made['gallery']} photos\n"
        f"now: sguardo pipeline nightly --config {made['config']}"
    )
