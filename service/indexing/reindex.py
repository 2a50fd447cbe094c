"""A new model re-embeds the gallery from the kept originals, into its own collection.

The rollout of a bundle: `create_collection` for it, `reindex_from_originals` from the serving
collection into the new one, `verify_collection`, swap the alias, then `catch_up` with what
the service indexed or deleted on the old collection meanwhile. Each point keeps its id and
payload (thumbnail, filename, metadata); only its vector is the new model's.

Every step compares ids, not progress files: a reindex killed at any moment is resumed by
running it again, and what is already in the target is never embedded twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sguardo.bundle.loader import Bundle
from sguardo.bundle.preprocessing import ImageDecodeError
from sguardo.service.app.serving_model import ServingModel, open_serving_model
from sguardo.service.core.metrics import Metrics
from sguardo.service.core.settings import Settings
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.factory import open_encoder
from sguardo.service.originals.base import OriginalMissingError, OriginalsError, OriginalStore
from sguardo.service.store.base import (
    ModelMismatchError,
    Point,
    StoreError,
    VectorStore,
    check_bundle,
)

EXAMPLES = 5  # ids (and file names) a message names before "and N more"


class ReindexError(RuntimeError):
    """The reindex cannot go on; the message says why and what to do."""


class MissingOriginalsError(ReindexError):
    """Images of the source whose original bytes were never kept: a new model cannot see them."""

    def __init__(self, source: str, missing: Sequence[str], examples: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            f"{len(missing)} image(s) in {source!r} have no original kept ({_listed(examples)}"
            f"{_more(len(missing), len(examples))}): they were indexed before Sguardo kept "
            "originals, so a new model cannot re-embed them. Index them again from their files "
            "(`sguardo index FOLDER` on the folders they came from, or POST /images with the "
            "same files): their ids stay the same and nothing already indexed is embedded "
            "again. Then run the reindex again: it resumes where it stopped."
        )


class ReindexMismatchError(StoreError):
    """The new collection does not hold exactly the serving collection's images."""


@dataclass(frozen=True)
class ReindexReport:
    source: str
    target: str
    total: int  # points in the source
    embedded: int  # embedded by this run
    already_present: int  # in the target from an earlier (interrupted) run
    removed: int  # in the target only, their image deleted since (original gone)
    seconds: float


@dataclass(frozen=True)
class VerifyReport:
    source: str
    target: str
    source_count: int
    target_count: int


@dataclass(frozen=True)
class CatchUpReport:
    source: str
    target: str
    embedded: int  # in the source only: indexed on the old collection during the rollout
    deleted: int  # in the target only, image deleted (original gone)
    skipped_deleted: int  # in the source only, original gone: deleted since, not brought back
    seconds: float


@asynccontextmanager
async def open_bundle_model(
    bundle_dir: Path,
    *,
    store: VectorStore,
    originals: OriginalStore,
    settings: Settings | None = None,
    collection: str | None = None,
) -> AsyncIterator[ServingModel]:
    """The service's own serving stack for `bundle_dir`, outside the service: the encoder the
    settings ask for, started batchers (`.embedder`) and an indexer (`.indexer`) pinned to the
    physical `collection` if given (else the settings' alias). Closed on exit."""
    settings = settings or Settings()
    if settings.encoder_backend == "triton":
        # A Triton server runs whatever graphs it was given, which may not be this bundle's:
        # embedding a new bundle's collection must run the bundle's own graphs.
        settings = settings.model_copy(update={"encoder_backend": "onnxruntime"})
    bundle = await asyncio.to_thread(Bundle.load, Path(bundle_dir).resolve())
    encoder = await asyncio.to_thread(open_encoder, settings, bundle)
    try:
        model = open_serving_model(
            settings, Metrics(), bundle, encoder, store, originals, collection=collection
        )
    except BaseException:
        encoder.close()
        raise
    try:
        yield model
    finally:
        await model.close()


async def reindex_from_originals(
    *,
    embedder: Embedder,
    store: VectorStore,
    originals: OriginalStore,
    source: str,
    target: str,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Embed every image of `source` (alias or collection) from its original into `target`
    (built by `embedder`'s bundle), keeping ids and payloads. Images already in `target` are
    skipped, so an interrupted run resumes; images in `target` only whose original is gone
    (deleted meanwhile) are removed. `on_progress(done, total)` counts source images.

    Raises MissingOriginalsError before embedding anything if an image has no original."""
    started = time.monotonic()
    await _check_target(store, target, embedder)
    source_ids = await _ids(store, source)
    target_ids = set(await _ids(store, target))
    todo = [i for i in source_ids if i not in target_ids]
    missing = await asyncio.to_thread(_without_original, originals, todo)
    if missing:
        raise MissingOriginalsError(source, missing, await _examples(store, source, missing))
    removed = await _remove_deleted(store, originals, target, target_ids - set(source_ids))
    total, done = len(source_ids), len(source_ids) - len(todo)
    if on_progress:
        on_progress(done, total)

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress:
            on_progress(done, total)

    embedded = await _embed_into(
        embedder, store, originals, source, target, todo, batch_size, advance
    )
    return ReindexReport(
        source,
        target,
        total,
        embedded,
        total - len(todo),
        removed,
        time.monotonic() - started,
    )


def verify_collection(store: VectorStore, source: str, target: str) -> VerifyReport:
    """Check that `target` holds exactly `source`'s images (same count, every id present);
    ReindexMismatchError with the numbers otherwise."""
    source_ids = _ids_sync(store, source)
    target_ids = set(_ids_sync(store, target))
    missing = [i for i in source_ids if i not in target_ids]
    extra = len(target_ids) - (len(source_ids) - len(missing))
    if missing or extra:
        problems = []
        if missing:
            problems.append(
                f"{len(missing)} of its images are missing ({_listed(missing)}"
                f"{_more(len(missing), min(len(missing), EXAMPLES))})"
            )
        if extra:
            problems.append(f"{extra} image(s) it holds are not in the source")
        raise ReindexMismatchError(
            f"{target!r} does not match {source!r}: the source holds {len(source_ids)} images, "
            f"the target {len(target_ids)}; {' and '.join(problems)}. Run the reindex again "
            "(it embeds only what is missing and removes images deleted meanwhile), then verify."
        )
    return VerifyReport(source, target, len(source_ids), len(target_ids))


async def catch_up(
    *,
    embedder: Embedder,
    store: VectorStore,
    originals: OriginalStore,
    source: str,
    target: str,
    batch_size: int = 32,
) -> CatchUpReport:
    """After the alias moved from `source` to `target`: embed into `target` what was indexed
    on `source` meanwhile, and delete from `target` what was deleted (its original gone)."""
    started = time.monotonic()
    await _check_target(store, target, embedder)
    source_ids = await _ids(store, source)
    target_ids = set(await _ids(store, target))
    only_source = [i for i in source_ids if i not in target_ids]
    gone = set(await asyncio.to_thread(_without_original, originals, only_source))
    todo = [i for i in only_source if i not in gone]
    deleted = await _remove_deleted(store, originals, target, target_ids - set(source_ids))
    embedded = await _embed_into(
        embedder, store, originals, source, target, todo, batch_size, lambda _: None
    )
    return CatchUpReport(source, target, embedded, deleted, len(gone), time.monotonic() - started)


# --- the steps ----------------------------------------------------------------------------
async def _check_target(store: VectorStore, target: str, embedder: Embedder) -> None:
    """Never write one model's vectors into another model's collection."""
    info = await asyncio.to_thread(store.info, target)
    check_bundle(info, embedder.bundle.bundle_id)
    if info.dim != embedder.dim:
        raise ModelMismatchError(
            f"{target!r} holds {info.dim}-d vectors but the bundle makes {embedder.dim}-d ones."
        )


def _ids_sync(store: VectorStore, name: str) -> list[str]:
    return [p.id for batch in store.scroll(name, 1024, with_payload=False) for p in batch]


async def _ids(store: VectorStore, name: str) -> list[str]:
    return await asyncio.to_thread(_ids_sync, store, name)


def _without_original(originals: OriginalStore, ids: Iterable[str]) -> list[str]:
    return [i for i in ids if not originals.exists(i)]


async def _examples(store: VectorStore, source: str, ids: Sequence[str]) -> list[str]:
    """A few of `ids` as the user knows them: file name and id."""
    points = await asyncio.to_thread(store.retrieve, source, list(ids[:EXAMPLES]))
    return [
        f"{p.payload['filename']} ({p.id})" if p.payload.get("filename") else p.id for p in points
    ]


async def _remove_deleted(
    store: VectorStore, originals: OriginalStore, target: str, only_target: Iterable[str]
) -> int:
    """Images only in the target whose original is gone were deleted: delete them there too.
    Those whose original is kept were indexed into the target itself; they stay."""
    gone = await asyncio.to_thread(_without_original, originals, sorted(only_target))
    if not gone:
        return 0
    return await asyncio.to_thread(store.delete, target, gone)


async def _embed_into(
    embedder: Embedder,
    store: VectorStore,
    originals: OriginalStore,
    source: str,
    target: str,
    ids: Sequence[str],
    batch_size: int,
    advance: Callable[[int], None],
) -> int:
    """Embed `ids` (taking their payloads from `source`) into `target`, batch by batch. Two
    batches are in flight, so one decodes while the other is in the model."""
    slots = asyncio.Semaphore(2)
    embedded = 0

    async def one(batch: Sequence[str]) -> None:
        nonlocal embedded
        async with slots:
            # Points deleted from the source since the ids were read are left out.
            points = await asyncio.to_thread(store.retrieve, source, list(batch))
            data = await asyncio.to_thread(_read_originals, originals, source, points)
            try:
                vectors = await embedder.embed_images(data)
            except ImageDecodeError as exc:
                raise ReindexError(
                    f"cannot decode the originals of {_listed([p.id for p in points])}: {exc}"
                ) from exc
            await asyncio.to_thread(
                store.upsert,
                target,
                [Point(p.id, v, p.payload) for p, v in zip(points, vectors, strict=True)],
            )
            embedded += len(points)
            advance(len(batch))

    tasks = [
        asyncio.create_task(one(ids[start : start + batch_size]))
        for start in range(0, len(ids), batch_size)
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:  # on the first failure, stop the rest: a rerun resumes
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return embedded


def _read_originals(originals: OriginalStore, source: str, points: Sequence[Point]) -> list[bytes]:
    try:
        return [originals.get(p.id) for p in points]
    except OriginalMissingError as exc:  # deleted while we ran, or never kept
        raise MissingOriginalsError(source, [exc.image_id], [exc.image_id]) from exc
    except OriginalsError as exc:
        raise ReindexError(f"cannot read an original: {exc}") from exc


def _listed(items: Sequence[str]) -> str:
    return ", ".join(items[:EXAMPLES])


def _more(total: int, shown: int) -> str:
    return f" and {total - shown} more" if total > shown else ""
