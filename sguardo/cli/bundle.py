"""`sguardo bundle info|triton-repo|add|list|promote|rollback`: inspect a bundle, lay it out
for a Triton server, and manage the registry of versioned bundles and its `current` pointer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from sguardo.bundle import paths
from sguardo.bundle.describe import render
from sguardo.bundle.manifest import BundleError, read_manifest
from sguardo.bundle.registry import Registry

if TYPE_CHECKING:
    from sguardo.service.core.settings import Settings

app = typer.Typer(
    help="Inspect model bundles, serve them through Triton, and manage the bundle registry.",
    no_args_is_help=True,
)

RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        envvar="SGUARDO_REGISTRY_PATH",
        help="registry directory [default: $SGUARDO_CACHE_DIR/registry]",
        show_default=False,
    ),
]


def _registry(path: Path | None) -> Registry:
    return Registry(path or paths.registry_dir())


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
    return typer.Exit(1)


@app.command("info")
def info(
    path: Annotated[Path, typer.Argument(help="bundle directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print bundle.json as is")] = False,
) -> None:
    """Print the manifest; exit 1 with the reason when files are missing, altered or of an
    unknown schema version."""
    try:
        manifest = read_manifest(path)
    except BundleError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(manifest.model_dump_json(indent=2))
        return
    Console().print(render(manifest, path))


@app.command("triton-repo")
def triton_repo(
    bundle: Annotated[Path, typer.Argument(help="bundle directory")],
    out: Annotated[Path, typer.Argument(help="model repository to write")],
    precision: Annotated[
        Literal["fp32", "fp16", "int8"], typer.Option(help="which ONNX variant to serve")
    ] = "fp32",
    max_batch_size: Annotated[int, typer.Option(min=1, help="Triton's dynamic batching cap")] = 64,
    cpu: Annotated[bool, typer.Option("--cpu", help="KIND_CPU instances")] = False,
    tensorrt: Annotated[bool, typer.Option("--tensorrt", help="TensorRT accelerator")] = False,
) -> None:
    """Write a Triton model repository (one model per tower, dynamic batching) for a bundle.

    Then `tritonserver --model-repository OUT`, and run the service with
    SGUARDO_ENCODER_BACKEND=triton SGUARDO_TRITON_URL=host:8001 SGUARDO_TRITON_PROTOCOL=grpc.
    """
    from sguardo.bundle.loader import Bundle
    from sguardo.service.encoders.triton_repository import (
        TritonModelOptions,
        write_model_repository,
    )

    options = TritonModelOptions(
        max_batch_size=max_batch_size,
        instance_kind="KIND_CPU" if cpu else "KIND_GPU",
        tensorrt=tensorrt,
        fp16=precision == "fp16",
    )
    try:
        written = write_model_repository(
            Bundle.load(bundle), out, precision=precision, options=options
        )
    except BundleError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    for name, directory in written.items():
        typer.echo(f"{name}: {directory}")


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="an exported bundle directory")],
    registry: RegistryOption = None,
    promote: Annotated[bool, typer.Option("--promote", help="make it current too")] = False,
) -> None:
    """Copy a bundle into the registry after verifying every file against bundle.json."""
    reg = _registry(registry)
    try:
        entry, created = reg.add(path)
        typer.echo(f"{'added' if created else 'already in the registry'}: {entry.id}")
        if promote:
            _promote(reg, entry.id)
    except BundleError as exc:
        raise _fail(exc) from exc


@app.command("list")
def list_bundles(registry: RegistryOption = None) -> None:
    """The registry's bundles, oldest first; the current one and the rollback order marked."""
    reg = _registry(registry)
    try:
        entries, current, previous = reg.entries(), reg.current(), reg.previous()
    except BundleError as exc:
        raise _fail(exc) from exc
    if not entries:
        typer.echo(f"no bundles in {reg.root}; add one with `sguardo bundle add DIR`")
        return
    table = Table(title=f"bundles in {reg.root}")
    for column in ("", "id", "model", "dim", "variants", "created", "metrics"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        manifest = entry.manifest
        if entry.id == current:
            mark = "current"
        elif entry.id in previous:
            mark = f"previous -{previous[::-1].index(entry.id) + 1}"
        else:
            mark = ""
        metrics = ", ".join(f"{k}={v:.3g}" for k, v in sorted(manifest.metrics.items())[:4])
        table.add_row(
            mark,
            entry.id,
            manifest.model_id,
            str(manifest.embedding_dim),
            ",".join(manifest.variants),
            manifest.created_at[:19],
            metrics,
        )
    Console().print(table)


def _promote(reg: Registry, bundle_id: str) -> None:
    was = reg.promote(bundle_id)
    if was == bundle_id:
        typer.echo(f"{bundle_id} is already current")
    else:
        typer.echo(f"current: {bundle_id} (was {was or 'none'})")


@app.command("promote")
def promote(
    bundle_id: Annotated[str, typer.Argument(help="an id from `sguardo bundle list`")],
    registry: RegistryOption = None,
) -> None:
    """Make a registry bundle current (verified first); the one it replaces can be rolled
    back to."""
    try:
        _promote(_registry(registry), bundle_id)
    except BundleError as exc:
        raise _fail(exc) from exc


@app.command("rollback")
def rollback(
    registry: RegistryOption = None,
    alias: Annotated[
        str | None,
        typer.Option(help="the alias to re-point [default: $SGUARDO_COLLECTION]"),
    ] = None,
    registry_only: Annotated[
        bool, typer.Option("--registry-only", help="leave the vector store's alias as it is")
    ] = False,
) -> None:
    """Make the bundle that was current before the current one current again, and point the
    alias back at that bundle's collection (checked first: nothing changes if it was dropped).
    The service follows once both agree."""
    reg = _registry(registry)
    if registry_only:
        _rollback_registry(reg)
        return
    from sguardo.cli.collection import settings_for

    settings = settings_for()
    alias = alias or settings.collection
    if settings.store_kind == "embedded" and not (settings.store_path / "collections").is_dir():
        _rollback_registry(reg)  # no store here: nothing else to roll back
        typer.echo(f"no vector store at {settings.store_path}: only the registry rolled back")
        return
    _rollback_with_alias(reg, settings, alias)


def _rollback_registry(reg: Registry) -> str:
    try:
        now, was = reg.rollback()
    except BundleError as exc:
        raise _fail(exc) from exc
    typer.echo(f"rolled back: current: {now} (was {was or 'none'})")
    return now


def _rollback_target(reg: Registry) -> str | None:
    """Where `Registry.rollback` will go (the same rule), to check the store before it does."""
    current, history = reg.current(), reg.previous()
    while history and (history[-1] == current or not (reg.bundles / history[-1]).is_dir()):
        history.pop()
    return history[-1] if history else None


def _rollback_with_alias(reg: Registry, settings: Settings, alias: str) -> None:
    from sguardo.bundle.loader import Bundle
    from sguardo.cli.collection import opened_store
    from sguardo.service.store.aliased import collection_name
    from sguardo.service.store.base import CollectionNotFoundError

    def collection_of(bundle_id: str) -> str:
        entry = reg.get(bundle_id)
        return collection_name(alias, Bundle(entry.directory, entry.manifest).bundle_id)

    target = _rollback_target(reg)
    if target is None:
        _rollback_registry(reg)  # says there is nothing to roll back to
        return
    locked = (
        f"nothing rolled back: the embedded store at {settings.store_path} is open in the "
        f"running service. Point the alias through it (`POST /admin/swap` "
        f'{{"alias": "{alias}", "collection": "{collection_of(target)}"}} with '
        "`Authorization: Bearer $SGUARDO_ADMIN_TOKEN`), then run `sguardo bundle rollback "
        "--registry-only`; or stop the service and run this again."
    )
    with opened_store(settings, locked) as store:
        try:
            store.info(alias)
        except CollectionNotFoundError:
            _rollback_registry(reg)
            typer.echo(f"no alias {alias!r} in the vector store: only the registry rolled back")
            return
        collection = collection_of(target)
        try:
            store.info(collection)
        except CollectionNotFoundError:
            raise _fail(
                BundleError(
                    f"nothing rolled back: the collection of bundle {target} ({collection}) "
                    f"is gone, so {alias!r} cannot serve it again. Rebuild it with `sguardo "
                    f"collection reindex --bundle {target} --alias {alias} --swap`, then roll "
                    "back, or roll back the registry only (`--registry-only`)."
                )
            ) from None
        now = _rollback_registry(reg)
        if now != target:  # another writer rolled back meanwhile: follow the registry
            collection = collection_of(now)
        was = store.info(alias).collection
        store.swap_alias(alias, collection)
    typer.echo(f"alias {alias} -> {collection} (was {was})")
