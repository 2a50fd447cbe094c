"""`sguardo index DIR_OR_MANIFEST`: bulk indexing in-process, straight into the configured store.

It opens the store itself, so against the embedded store run it while `sguardo serve` is
stopped (the embedded engine allows one process); against a Qdrant server both can run.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from service.settings import Settings

if TYPE_CHECKING:  # the serving stack is imported when the command runs, not by `sguardo --help`
    from service.bulk_index import IndexReport, Skipped, Source

console = Console(stderr=True)


async def _run(
    settings: Settings, sources: list[Source], batch_size: int, workers: int, progress: Progress
) -> IndexReport:
    from service.bulk_index import Limits, index_sources
    from service.metrics import Metrics
    from service.services import build_services

    services = await build_services(settings, Metrics())
    try:
        task = progress.add_task("Indicizzazione", total=len(sources))
        limits = Limits(settings.limits.max_image_bytes, settings.limits.max_image_pixels)
        return await index_sources(
            services.indexer,
            sources,
            limits,
            batch_size=batch_size,
            workers=workers,
            on_progress=lambda n: progress.advance(task, n),
        )
    finally:
        await services.close()


def print_summary(report: IndexReport, skipped_before: list[Skipped], collection: str) -> None:
    skipped = skipped_before + report.skipped
    console.print(
        f"[bold]{report.indexed}[/] indexed, [bold]{report.already_present}[/] already in "
        f"collection {collection!r}, [bold]{len(skipped)}[/] skipped."
    )
    if skipped:
        table = Table(title="Skipped files", title_justify="left")
        table.add_column("File", overflow="fold")
        table.add_column("Reason", overflow="fold")
        for item in sorted(skipped, key=lambda s: s.label):
            table.add_row(escape(item.label), escape(item.reason))
        console.print(table)


def index(
    source: Annotated[
        Path, typer.Argument(help="A folder of images, or a JSON Lines manifest of {image, ...}.")
    ],
    batch_size: Annotated[int, typer.Option(min=1, help="Images embedded per batch.")] = 32,
    workers: Annotated[
        int, typer.Option(min=1, help="Batches read and decoded in parallel.")
    ] = min(4, os.cpu_count() or 1),
    recursive: Annotated[bool, typer.Option(help="Descend into sub-folders.")] = True,
) -> None:
    """Index a folder or a manifest of images. Safe to re-run: indexed images are skipped."""
    from service.bulk_index import collect_sources
    from service.services import StartupError

    settings = Settings()
    try:
        sources, skipped = collect_sources(source, recursive=recursive)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            report = asyncio.run(_run(settings, sources, batch_size, workers, progress))
    except StartupError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        console.print("Interrupted: what was indexed is stored; run the same command to resume.")
        raise typer.Exit(130) from None
    print_summary(report, skipped, settings.collection)
