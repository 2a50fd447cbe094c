"""`sguardo collection list|create|reindex|swap|drop`: one collection per model, and the alias
the service searches moved between them.

A new bundle gets its own physical collection (`<alias>__<hash of the bundle>`), filled from the
kept originals (`reindex`), checked against the serving one, and only then does the alias move
(`swap`, atomic in both stores). The store is the one the `SGUARDO_*` settings name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sguardo.service.core.settings import Settings

if TYPE_CHECKING:  # the serving stack is imported when a command runs, not by `sguardo --help`
    from sguardo.bundle.loader import Bundle
    from sguardo.service.store.base import VectorStore

app = typer.Typer(
    help="Vector-store collections: one per model bundle, and the alias the service searches.",
    no_args_is_help=True,
)
console = Console(stderr=True, highlight=False)

StorePath = Annotated[
    Path | None,
    typer.Option("--store-path", help="embedded store folder [default: $SGUARDO_STORE_PATH]"),
]
QdrantUrl = Annotated[
    str | None,
    typer.Option("--qdrant-url", help="a Qdrant server instead [default: $SGUARDO_QDRANT_URL]"),
]
AliasOption = Annotated[
    str | None,
    typer.Option("--alias", help="the alias the service searches [default: $SGUARDO_COLLECTION]"),
]
BundleOption = Annotated[str, typer.Option("--bundle", help="a bundle directory, or a registry id")]


def settings_for(store_path: Path | None = None, qdrant_url: str | None = None) -> Settings:
    """The `SGUARDO_*` settings, with the command line's store (if given) instead."""
    settings = Settings()
    if qdrant_url:
        return settings.model_copy(update={"store_kind": "qdrant", "qdrant_url": qdrant_url})
    if store_path:
        return settings.model_copy(update={"store_kind": "embedded", "store_path": store_path})
    return settings


def store_locked_hint(settings: Settings) -> str:
    return (
        f"The embedded store at {settings.store_path} is open in a running service (it admits "
        "one process). Stop the service, or let it do this: `POST /admin/reindex` "
        '{"bundle": ...} then `POST /admin/swap` {"alias": ..., "collection": ...} on '
        f"http://{settings.host}:{settings.port} with `Authorization: Bearer "
        "$SGUARDO_ADMIN_TOKEN`."
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def opened_store(settings: Settings, locked_hint: str = "") -> Iterator[VectorStore]:
    """The configured store, closed after; store errors end the command with their message
    (`locked_hint`: what to do instead while a service holds the embedded store)."""
    from sguardo.service.app.services import open_configured_store
    from sguardo.service.store.base import StoreError, StoreLockedError

    try:
        store = open_configured_store(settings)
    except StoreLockedError as exc:
        raise fail(locked_hint or store_locked_hint(settings)) from exc
    except StoreError as exc:
        raise fail(f"cannot open the {settings.store_kind} vector store: {exc}") from exc
    try:
        yield store
    except StoreError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()


def _bundle_dir(reference: str, settings: Settings) -> Path:
    from sguardo.service.app.reindex_job import resolve_bundle

    return resolve_bundle(reference, settings.registry_path)


def _load_bundle(reference: str, settings: Settings) -> Bundle:
    from sguardo.bundle.loader import Bundle
    from sguardo.bundle.manifest import BundleError

    try:
        return Bundle.load(_bundle_dir(reference, settings), verify_hashes=False)
    except (BundleError, OSError) as exc:
        raise fail(f"cannot load bundle {reference!r}: {exc}") from exc


@app.command("list")
def list_collections(store_path: StorePath = None, qdrant_url: QdrantUrl = None) -> None:
    """Every collection Sguardo made, with the alias pointing at it."""
    settings = settings_for(store_path, qdrant_url)
    with opened_store(settings) as store:
        collections = store.list_collections()
    if not collections:
        typer.echo("no collections yet: `sguardo index` or `sguardo serve` creates the first")
        return
    table = Table(title="collections")
    for column in ("alias", "collection", "bundle id", "dim", "count"):
        table.add_column(
            column, overflow="fold", justify="right" if column in ("dim", "count") else "left"
        )
    for info in collections:
        table.add_row(info.alias, info.collection, info.bundle_id, str(info.dim), str(info.count))
    Console().print(table)


@app.command("create")
def create(
    bundle: BundleOption,
    alias: AliasOption = None,
    store_path: StorePath = None,
    qdrant_url: QdrantUrl = None,
) -> None:
    """Create a bundle's collection next to the alias's, without pointing the alias at it."""
    settings = settings_for(store_path, qdrant_url)
    loaded = _load_bundle(bundle, settings)
    with opened_store(settings) as store:
        info = store.create_collection(
            alias or settings.collection, loaded.bundle_id, loaded.manifest.embedding_dim
        )
    typer.echo(f"collection {info.collection} for bundle {info.bundle_id} ({info.count} points)")


@app.command("reindex")
def reindex(
    bundle: BundleOption,
    alias: AliasOption = None,
    swap: Annotated[
        bool, typer.Option("--swap", help="point the alias at it once verified")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=256, help="images per batch")] = 32,
    store_path: StorePath = None,
    qdrant_url: QdrantUrl = None,
) -> None:
    """Create the bundle's collection, re-embed every original of the alias's collection into
    it, and verify it. Resumable: run it again after an interruption."""
    settings = settings_for(store_path, qdrant_url)
    alias = alias or settings.collection
    directory = _bundle_dir(bundle, settings)
    loaded = _load_bundle(bundle, settings)  # verified when its model is opened
    with opened_store(settings) as store:
        target = store.create_collection(alias, loaded.bundle_id, loaded.manifest.embedding_dim)
        source = store.info(alias).collection
        asyncio.run(
            _reindex(settings, store, directory, alias, source, target.collection, batch_size, swap)
        )


async def _reindex(
    settings: Settings,
    store: VectorStore,
    directory: Path,
    alias: str,
    source: str,
    target: str,
    batch_size: int,
    swap: bool,
) -> None:
    from sguardo.service.indexing.reindex import (
        ReindexError,
        catch_up,
        open_bundle_model,
        reindex_from_originals,
        verify_collection,
    )
    from sguardo.service.originals.filesystem import FilesystemOriginals

    originals = FilesystemOriginals(settings.originals_path)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    async with open_bundle_model(
        directory, store=store, originals=originals, settings=settings, collection=target
    ) as model:
        try:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(f"Reindicizzazione in {target}", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                report = await reindex_from_originals(
                    embedder=model.embedder,
                    store=store,
                    originals=originals,
                    source=source,
                    target=target,
                    batch_size=batch_size,
                    on_progress=advance,
                )
            typer.echo(
                f"{report.embedded} embedded, {report.already_present} already in {target}, "
                f"{report.removed} removed (deleted meanwhile) in {report.seconds:.1f} s"
            )
            if report.embedded:  # the embedded engine indexes only when asked (blocks)
                await asyncio.to_thread(store.optimize, target)
            verified = await asyncio.to_thread(verify_collection, store, source, target)
            typer.echo(f"verified: {verified.target_count} points in both {source} and {target}")
            if not swap:
                typer.echo(f"to serve it: sguardo collection swap {alias} {target}")
                return
            await asyncio.to_thread(store.swap_alias, alias, target)
            typer.echo(f"swapped: {alias} -> {target} (was {source})")
            # A service on a Qdrant server kept indexing into the old collection until now.
            caught = await catch_up(
                embedder=model.embedder,
                store=store,
                originals=originals,
                source=source,
                target=alias,
                batch_size=batch_size,
            )
            if caught.embedded or caught.deleted:
                typer.echo(f"caught up: {caught.embedded} embedded, {caught.deleted} deleted since")
        except ReindexError as exc:
            raise fail(str(exc)) from exc


@app.command("swap")
def swap(
    alias: Annotated[str, typer.Argument(help="the alias to re-point")],
    collection: Annotated[str, typer.Argument(help="a collection from `sguardo collection list`")],
    force: Annotated[
        bool, typer.Option("--force", help="skip the check against the alias's collection")
    ] = False,
    store_path: StorePath = None,
    qdrant_url: QdrantUrl = None,
) -> None:
    """Atomically point ALIAS at COLLECTION, once it holds every image of ALIAS's collection."""
    from sguardo.service.indexing.reindex import verify_collection
    from sguardo.service.store.base import CollectionNotFoundError

    settings = settings_for(store_path, qdrant_url)
    with opened_store(settings) as store:
        try:
            previous: str | None = store.info(alias).collection
        except CollectionNotFoundError:
            previous = None
        if previous is not None and previous != collection and not force:
            verified = verify_collection(store, alias, collection)
            typer.echo(f"verified: {verified.target_count} points in both")
        store.swap_alias(alias, collection)
    typer.echo(f"swapped: {alias} -> {collection} (was {previous or 'none'})")


@app.command("drop")
def drop(
    collection: Annotated[str, typer.Argument(help="a collection from `sguardo collection list`")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    store_path: StorePath = None,
    qdrant_url: QdrantUrl = None,
) -> None:
    """Delete a collection no alias points at (a rolled-back or superseded model's)."""
    settings = settings_for(store_path, qdrant_url)
    with opened_store(settings) as store:
        info = store.info(collection)
        if not yes and not typer.confirm(
            f"Drop {collection} ({info.count} points, bundle {info.bundle_id})? A rollback to "
            "that bundle would need a reindex",
            err=True,
        ):
            raise typer.Exit(1)
        store.drop_collection(collection)
    typer.echo(f"dropped: {collection}")
