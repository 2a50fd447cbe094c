"""A bundle's manifest as a table: what `sguardo bundle info` and `sguardo export` print."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from sguardo.bundle.manifest import Manifest, TowerParity


def render(manifest: Manifest, path: Path) -> Table:
    table = Table(title=f"bundle {path}", show_header=False)
    table.add_row("model id", manifest.model_id)
    table.add_row("content hash", manifest.content_hash)
    table.add_row("schema version", str(manifest.schema_version))
    table.add_row("embedding dim", str(manifest.embedding_dim))
    table.add_row("variants", ", ".join(manifest.variants))
    text = manifest.text
    table.add_row("text", f"max_length {text.max_length}, prefix {text.prefix!r}")
    image = manifest.image
    table.add_row(
        "image",
        f"resize {image.resize_size} ({image.interpolation}), crop {image.crop_size}, "
        f"mean {_rounded(image.mean)}, std {_rounded(image.std)}",
    )
    for precision, towers in manifest.parity.items():
        for tower, result in towers.items():
            table.add_row(f"parity {precision} {tower}", _parity(result, "rows"))
    dense = manifest.dense_vision
    table.add_row(
        "dense vision",
        "none: /localize uses crops alone"
        if dense is None
        else (
            f"{dense.file}, inputs ≥ {dense.min_side} px a side, a location every {dense.stride} px"
        ),
    )
    if dense is not None and dense.parity is not None:
        table.add_row("parity fp32 dense vision", _parity(dense.parity, "locations"))
    for name, value in manifest.metrics.items():
        table.add_row(f"metric {name}", f"{value:.4f}")
    for name in manifest.files:
        size = (path / name).stat().st_size / 1e6
        table.add_row(f"file {name}", f"{size:.1f} MB")
    return table


def _parity(result: TowerParity, rows: str) -> str:
    return (
        f"min cos {result.min_cosine:.6f} (mean {result.mean_cosine:.6f}, "
        f"threshold {result.threshold}, {result.rows} {rows})"
    )


def _rounded(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(round(v, 4) for v in values)
