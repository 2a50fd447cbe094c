"""`python -m sguardo ...` and `torchrun -m sguardo train ...` run the `sguardo` command."""

from sguardo.cli import app

app()
