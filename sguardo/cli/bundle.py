"""`sguardo bundle info|triton-repo`: inspect a bundle, or lay it out for a Triton server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from sguardo.bundle.describe import render
from sguardo.bundle.manifest import BundleError, read_manifest

app = typer.Typer(help="Inspect model bundles and serve them through Triton.", no_args_is_help=True)


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
