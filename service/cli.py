"""The `sguardo` command. Torch-free: training commands import torch when they run."""

from __future__ import annotations

import typer

from model.cli import backbones, bundle
from model.cli import benchmark as benchmark_cli
from model.cli import eval as eval_cli
from model.cli.export import export
from model.cli.train import train
from service.cli_index import index
from service.cli_serve import serve

app = typer.Typer(
    help="Sguardo: Italian image–text search. Train, export and serve an Italian CLIP.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command()(export)
app.command()(train)
app.add_typer(eval_cli.app, name="eval")
app.add_typer(benchmark_cli.app, name="benchmark")
app.command()(serve)
app.command()(index)
app.add_typer(bundle.app, name="bundle")
app.add_typer(backbones.app, name="backbones")

if __name__ == "__main__":
    app()
