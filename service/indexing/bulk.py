"""Bulk indexing: a folder or a JSONL manifest of images into the gallery.

Files are read and checked in a thread pool while earlier batches decode and embed (the
indexer decodes each batch in its own worker thread, so batches in flight decode in parallel).
Point ids derive from the bytes and the indexer skips ids already stored, so a run that was
interrupted is resumed by running it again: nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import io
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError

from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.indexing.indexer import ImageInput, IndexedImage, MetadataError, check_metadata

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
MANIFEST_SUFFIXES = frozenset({".jsonl", ".ndjson"})


class Indexer(Protocol):
    """`ImageIndexer` in-process, or `RemoteIndexer` through a running service."""

    async def index(self, items: Sequence[ImageInput]) -> list[IndexedImage]:
        """Raises ImageDecodeError when an item cannot be decoded."""
        ...


@dataclass(frozen=True)
class Source:
    path: Path
    label: str  # what the user recognises: the path relative to the folder or manifest
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    label: str
    reason: str


@dataclass
class IndexReport:
    total: int = 0
    indexed: int = 0
    already_present: int = 0  # stored by an earlier run, or the same bytes twice in this one
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int


def sources_from_directory(
    root: Path, *, recursive: bool = True
) -> tuple[list[Source], list[Skipped]]:
    """Every non-hidden file under `root`, sorted; files without an image suffix are skipped."""
    pattern = "**/*" if recursive else "*"
    sources, skipped = [], []
    for path in sorted(root.glob(pattern)):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        label = relative.as_posix()
        if path.suffix.lower() in IMAGE_SUFFIXES:
            sources.append(Source(path, label, {"path": label}))
        else:
            skipped.append(Skipped(label, f"not an image file (suffix {path.suffix or 'none'!r})"))
    return sources, skipped


def sources_from_manifest(manifest: Path) -> tuple[list[Source], list[Skipped]]:
    """JSON Lines: `{"image": "relative/or/absolute.jpg", ...metadata}` per line."""
    sources, skipped = [], []
    lines = manifest.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        where = f"{manifest.name}:{number}"
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(Skipped(where, f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(record, dict) or not isinstance(record.get("image"), str):
            skipped.append(Skipped(where, 'needs an "image" field with the image path'))
            continue
        image = Path(record.pop("image"))
        path = image if image.is_absolute() else manifest.parent / image
        sources.append(Source(path, image.as_posix(), record))
    return sources, skipped


def collect_sources(
    location: Path, *, recursive: bool = True
) -> tuple[list[Source], list[Skipped]]:
    if location.is_dir():
        return sources_from_directory(location, recursive=recursive)
    if location.is_file() and location.suffix.lower() in MANIFEST_SUFFIXES:
        return sources_from_manifest(location)
    if location.is_file():
        raise ValueError(
            f"{location} is neither a folder nor a JSON Lines manifest (.jsonl, .ndjson)"
        )
    raise FileNotFoundError(f"{location} does not exist")


def read_source(source: Source, limits: Limits) -> ImageInput | Skipped:
    """Read one file and reject what cannot be indexed before any pixel is decoded."""
    try:
        size = source.path.stat().st_size
        if size > limits.max_bytes:
            return Skipped(source.label, f"too large: {size} bytes (limit {limits.max_bytes})")
        data = source.path.read_bytes()
    except OSError as exc:
        return Skipped(source.label, f"unreadable: {exc.strerror or exc}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            width, height = Image.open(io.BytesIO(data)).size  # header only
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return Skipped(source.label, "not an image (unrecognised image format)")
    if width * height > limits.max_pixels:
        return Skipped(
            source.label, f"too large: {width}x{height} pixels (limit {limits.max_pixels})"
        )
    try:
        metadata = check_metadata(source.metadata)
    except MetadataError as exc:
        return Skipped(source.label, f"bad metadata: {exc}")
    return ImageInput(data, source.path.name, metadata)


def _chunks(items: Sequence[Source], size: int) -> Iterator[Sequence[Source]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _index_one_by_one(
    indexer: Indexer, items: list[tuple[str, ImageInput]], report: IndexReport
) -> None:
    """A batch failed to decode: find the culprits, index the rest."""
    for label, item in items:
        try:
            (result,) = await indexer.index([item])
        except ImageDecodeError as exc:
            reason = str(exc).removeprefix(f"{item.filename}: ")
            report.skipped.append(Skipped(label, f"cannot decode: {reason}"))
            continue
        report.indexed += result.created
        report.already_present += not result.created


async def index_sources(
    indexer: Indexer,
    sources: Sequence[Source],
    limits: Limits,
    *,
    batch_size: int = 32,
    workers: int = 2,
    on_progress: Callable[[int], None] | None = None,
) -> IndexReport:
    """Index `sources` in batches, at most `workers` batches in flight."""
    report = IndexReport(total=len(sources))
    loop = asyncio.get_running_loop()
    in_flight = asyncio.Semaphore(max(1, workers))

    async def run_batch(batch: Sequence[Source], pool: ThreadPoolExecutor) -> None:
        try:
            read = await asyncio.gather(
                *(loop.run_in_executor(pool, read_source, source, limits) for source in batch)
            )
            items = []
            for source, outcome in zip(batch, read, strict=True):
                if isinstance(outcome, Skipped):
                    report.skipped.append(outcome)
                else:
                    items.append((source.label, outcome))
            if items:
                try:
                    results = await indexer.index([item for _, item in items])
                except ImageDecodeError:
                    await _index_one_by_one(indexer, items, report)
                else:
                    created = sum(result.created for result in results)
                    report.indexed += created
                    report.already_present += len(results) - created
            if on_progress is not None:
                on_progress(len(batch))
        finally:
            in_flight.release()

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sguardo-read") as pool:
        tasks: list[asyncio.Task[None]] = []
        try:
            for batch in _chunks(sources, max(1, batch_size)):
                await in_flight.acquire()
                # A failed batch (store down) stops the run; what is stored stays stored.
                failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
                if failed:
                    await failed[0]  # re-raises its exception
                tasks.append(asyncio.create_task(run_batch(batch, pool)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return report
