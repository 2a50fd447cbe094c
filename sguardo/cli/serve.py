"""`sguardo serve`: the README's main command.

On a fresh machine it creates the default demo bundle (when torch is installed), then starts the
service (which indexes the demo gallery into an empty collection, see `Settings.demo_gallery`).
Providing the demo bundle spans both sides (the training side's export and demo heads, the
service's settings), so it lives here, at the root; the export runs as a subprocess so that the
serving process itself never imports torch.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sguardo.bundle import paths
from sguardo.bundle.manifest import MANIFEST_NAME
from sguardo.model.demo_model import DEMO_MODEL_DIR
from sguardo.service.core.settings import Settings

console = Console(stderr=True)


class BundleUnavailable(RuntimeError):
    """No bundle to serve, and none can be made here; the message says what to do."""


def _has_bundle(directory: Path) -> bool:
    return (directory / MANIFEST_NAME).is_file()


def _is_demo_bundle(directory: Path) -> bool:
    return directory.expanduser().resolve() == paths.demo_bundle_dir().resolve()


def _warn_if_older_than_demo_model(directory: Path) -> None:
    """An updated checkout may carry newer trained heads than the cached demo bundle."""
    model_files = [p for p in DEMO_MODEL_DIR.glob("*") if p.is_file()]
    if not model_files:
        return
    newest = max(p.stat().st_mtime for p in model_files)
    if newest > (directory / MANIFEST_NAME).stat().st_mtime:
        console.print(
            f"[yellow]warning:[/] the demo bundle at {directory} is older than the demo model "
            f"in {DEMO_MODEL_DIR}; refresh it with `sguardo export --overwrite` (then "
            "re-index: a collection belongs to the bundle that built it)."
        )


def ensure_bundle(settings: Settings) -> None:
    """Make sure `settings.bundle_path` holds a bundle, exporting the demo one if needed."""
    directory = settings.bundle_path
    if _has_bundle(directory):
        if _is_demo_bundle(directory):
            _warn_if_older_than_demo_model(directory)
        return
    if not _is_demo_bundle(directory):
        raise BundleUnavailable(
            f"no model bundle at {directory} (SGUARDO_BUNDLE_PATH). Export one there with "
            f"`sguardo export --output {directory}`, or unset SGUARDO_BUNDLE_PATH to use the "
            "demo bundle."
        )
    if importlib.util.find_spec("torch") is None:
        raise BundleUnavailable(
            f"the demo model bundle is not at {directory}, and this installation cannot create "
            "it: `sguardo export` needs the training extra (pip install 'sguardo[train]', or "
            "`make setup`). Either run `sguardo export` where the training extra is installed "
            f"and copy the bundle to {directory}, or set SGUARDO_BUNDLE_PATH to an existing "
            "bundle."
        )
    console.print(
        f"No model bundle yet: exporting the demo bundle to {directory} (a minute or two)…"
    )
    completed = subprocess.run([sys.executable, "-m", "sguardo", "export"], check=False)
    if completed.returncode != 0 or not _has_bundle(directory):
        raise BundleUnavailable(
            f"exporting the demo bundle failed (exit status {completed.returncode}); "
            "see the messages above, then run `sguardo export` to retry"
        )


def serve(
    host: Annotated[str | None, typer.Option(help="[default: SGUARDO_HOST or 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="[default: SGUARDO_PORT or 8000]")] = None,
    demo_gallery: Annotated[
        bool | None,
        typer.Option(help="index the demo photos into an empty collection [default: on]"),
    ] = None,
) -> None:
    """Start the search service and its web page (http://127.0.0.1:8000/ by default)."""
    overrides = {"host": host, "port": port, "demo_gallery": demo_gallery}
    settings = Settings().model_copy(
        update={key: value for key, value in overrides.items() if value is not None}
    )
    try:
        ensure_bundle(settings)
    except BundleUnavailable as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    from sguardo.service.cli.serve import run_service

    console.print(f"Sguardo: http://{settings.host}:{settings.port}/")
    run_service(settings)
