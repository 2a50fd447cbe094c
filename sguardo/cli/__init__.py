"""The `sguardo` command, the root of both sides. Torch-free: training commands import torch
when they run, so `sguardo --help` and the serving install work without the `train` extra."""

from __future__ import annotations

import typer

from sguardo.cli import bundle, collection, pipeline, serve
from sguardo.model.cli import backbones
from sguardo.model.cli import benchmark as benchmark_cli
from sguardo.model.cli import eval as eval_cli
from sguardo.model.cli.export import export
from sguardo.model.cli.train import train
from sguardo.service.cli.index import index
from sguardo.service.cli.localize import localize

app = typer.Typer(
    help="Sguardo: Italian image–text search. Train, export and serve an Italian CLIP.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command()(export)
app.command()(train)
app.add_typer(eval_cli.app, name="eval")
app.add_typer(benchmark_cli.app, name="benchmark")
app.command()(serve.serve)
app.command()(index)
app.command()(localize)
app.add_typer(bundle.app, name="bundle")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(collection.app, name="collection")
app.add_typer(backbones.app, name="backbones")
