from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def default_data_dir() -> Path:
    """`$SGUARDO_DATA_DIR`, else `../shared/data` from the working directory: where the
    project's real evaluation data lies beside a checkout, found the same way when installed."""
    return Path(os.environ.get("SGUARDO_DATA_DIR", "../shared/data"))


def require_train_extra() -> None:
    """Fail with an install hint instead of an ImportError deep inside a command."""
    missing = [m for m in ("torch", "transformers", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        console.print(
            f"[red]This command needs {', '.join(missing)}.[/red] "
            "Install the training extra: pip install torch==2.13.0 'sguardo[train]'"
        )
        raise typer.Exit(2)
    import transformers

    # Load reports about unused pooler weights and the like are noise at the CLI.
    transformers.logging.set_verbosity_error()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
