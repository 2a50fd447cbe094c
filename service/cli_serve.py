"""`sguardo serve`: the README's main command.

On a fresh machine it creates the default demo bundle (when torch is installed), starts the
service on the embedded store and, while the collection is empty, indexes the demo gallery.
The export runs as a subprocess so that `service/` itself never imports torch.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from model import paths
from model.bundle.manifest import MANIFEST_NAME
from service.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

console = Console(stderr=True)
logger = logging.getLogger("sguardo")


class BundleUnavailable(RuntimeError):
    """No bundle to serve, and none can be made here; the message says what to do."""


def _has_bundle(directory: Path) -> bool:
    return (directory / MANIFEST_NAME).is_file()


def _is_demo_bundle(directory: Path) -> bool:
    return directory.expanduser().resolve() == paths.demo_bundle_dir().resolve()


def _warn_if_older_than_demo_model(directory: Path) -> None:
    """An updated checkout may carry newer trained heads than the cached demo bundle."""
    model_files = [p for p in paths.DEMO_MODEL_DIR.glob("*") if p.is_file()]
    if not model_files:
        return
    newest = max(p.stat().st_mtime for p in model_files)
    if newest > (directory / MANIFEST_NAME).stat().st_mtime:
        console.print(
            f"[yellow]warning:[/] the demo bundle at {directory} is older than the demo model "
            f"in {paths.DEMO_MODEL_DIR}; refresh it with `sguardo export --overwrite` (then "
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
    completed = subprocess.run([sys.executable, "-m", "service.cli", "export"], check=False)
    if completed.returncode != 0 or not _has_bundle(directory):
        raise BundleUnavailable(
            f"exporting the demo bundle failed (exit status {completed.returncode}); "
            "see the messages above, then run `sguardo export` to retry"
        )


def seed_demo_gallery_on_startup(app: FastAPI) -> None:
    """Wrap the app's lifespan: once services are up, index the demo gallery if the
    collection is empty (before the first request is served, so a search finds it)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            from service.demo_gallery import seed_if_empty
            from service.store.base import StoreError

            try:
                await seed_if_empty(app.state.services)
            except StoreError as exc:  # e.g. the collection belongs to another bundle
                logger.warning("demo gallery not indexed: %s", exc)
            yield

    app.router.lifespan_context = lifespan


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
    import uvicorn

    from service.main import create_app

    app = create_app(settings)
    if settings.demo_gallery:
        seed_demo_gallery_on_startup(app)
    console.print(f"Sguardo: http://{settings.host}:{settings.port}/")
    # The app logs every request itself (JSON, with request ids): no second access log.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
