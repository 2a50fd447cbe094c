"""Reindexing a gallery from its originals with a new bundle, on real photos and both stores:
ids and payloads kept, resumed after an interruption, missing originals named, verified,
and caught up after the swap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from sguardo.service.core.settings import Settings
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.indexing.reindex import (
    CatchUpReport,
    MissingOriginalsError,
    ReindexMismatchError,
    ReindexReport,
    catch_up,
    open_bundle_model,
    reindex_from_originals,
    verify_collection,
)
from sguardo.service.originals.filesystem import FilesystemOriginals
from sguardo.service.store.aliased import AliasedStore
from sguardo.service.store.base import ModelMismatchError, Point
from sguardo.service.store.ids import point_id_for_bytes
from tests.service.store.conftest import opener_for

T = TypeVar("T")
OLD_BUNDLE = "old-model@0123456789ab"  # the serving model: only its collection matters here
OLD_DIM = 16  # the tiny bundle's: an alias keeps one vector size


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[bytes]:
    files = sorted((shared_data / "coco128" / "images" / "train2017").glob("*.jpg"))[:10]
    return [f.read_bytes() for f in files]


@pytest.fixture(params=["embedded", "qdrant-memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AliasedStore]:
    opened = opener_for(str(request.param), tmp_path / "store")()
    yield opened
    opened.close()


@pytest.fixture
def originals(tmp_path: Path) -> FilesystemOriginals:
    return FilesystemOriginals(tmp_path / "originals")


def payload(n: int) -> dict[str, object]:
    return {"filename": f"foto-{n}.jpg", "thumbnail": f"thumb-{n}", "album": "mare", "n": n}


def serve_old(store: AliasedStore, originals: FilesystemOriginals, photos: list[bytes]) -> str:
    """The serving gallery as the old model left it: its vectors, and every original kept."""
    store.ensure_collection("gallery", OLD_BUNDLE, OLD_DIM)
    rng = np.random.default_rng(0)
    points = [
        Point(point_id_for_bytes(data), rng.normal(size=OLD_DIM).tolist(), payload(n))
        for n, data in enumerate(photos)
    ]
    store.upsert("gallery", points)
    for data in photos:
        originals.put(point_id_for_bytes(data), data)
    return store.info("gallery").collection


def with_model(
    tiny_bundle_dir: Path,
    store: AliasedStore,
    originals: FilesystemOriginals,
    body: Callable[[Embedder], Awaitable[T]],
) -> T:
    settings = Settings(bundle_path=tiny_bundle_dir, max_wait_ms=1, intra_op_threads=1)

    async def run() -> T:
        async with open_bundle_model(
            tiny_bundle_dir, store=store, originals=originals, settings=settings
        ) as model:
            return await body(model.embedder)

    return asyncio.run(run())


class Killed(Exception):
    """Stands in for kill -9 in the middle of a run: what was stored stays, nothing more."""


def count_embedded(embedder: Embedder, counted: list[int], fail_after: int | None = None) -> None:
    """Count the images the model embeds; after `fail_after` of them, die like a kill -9."""
    embed = embedder.embed_images

    async def counting(images: Sequence[bytes]) -> np.ndarray:
        if fail_after is not None and sum(counted) >= fail_after:
            raise Killed
        counted.append(len(images))
        return await embed(images)

    embedder.embed_images = counting  # type: ignore[method-assign]


def test_reindex_keeps_ids_and_payloads_with_the_new_vectors(
    tiny_bundle_dir: Path, store: AliasedStore, originals: FilesystemOriginals, photos: list[bytes]
) -> None:
    old = serve_old(store, originals, photos)
    progress: list[tuple[int, int]] = []

    async def body(embedder: Embedder) -> Any:
        target = store.create_collection("gallery", embedder.bundle.bundle_id, embedder.dim)
        report = await reindex_from_originals(
            embedder=embedder,
            store=store,
            originals=originals,
            source="gallery",
            target=target.collection,
            batch_size=4,
            on_progress=lambda done, total: progress.append((done, total)),
        )
        expected = embedder.embed_images_unbatched(photos)
        return target.collection, report, expected

    target, report, expected = with_model(tiny_bundle_dir, store, originals, body)
    assert (report.total, report.embedded, report.already_present, report.removed) == (10, 10, 0, 0)
    assert progress[0] == (0, 10) and progress[-1] == (10, 10)
    assert store.info("gallery").collection == old  # the alias did not move
    ids = [point_id_for_bytes(data) for data in photos]
    reindexed = store.retrieve(target, ids, with_vectors=True)
    assert [p.payload for p in reindexed] == [payload(n) for n in range(10)]
    np.testing.assert_allclose(np.array([p.vector for p in reindexed]), expected, atol=1e-5)
    assert verify_collection(store, "gallery", target).target_count == 10
    assert verify_collection(store, old, target).source_count == 10


def test_resumes_after_an_interruption_without_embedding_twice(
    tiny_bundle_dir: Path, store: AliasedStore, originals: FilesystemOriginals, photos: list[bytes]
) -> None:
    serve_old(store, originals, photos)
    first: list[int] = []
    second: list[int] = []

    async def interrupted(embedder: Embedder) -> object:
        target = store.create_collection("gallery", embedder.bundle.bundle_id, embedder.dim)
        count_embedded(embedder, first, fail_after=4)
        with pytest.raises(Killed):
            await reindex_from_originals(
                embedder=embedder,
                store=store,
                originals=originals,
                source="gallery",
                target=target.collection,
                batch_size=2,
            )
        return target.collection

    target = str(with_model(tiny_bundle_dir, store, originals, interrupted))
    stored = store.info(target).count
    assert 0 < stored < 10
    with pytest.raises(ReindexMismatchError, match=rf"{10 - stored} of its images are missing"):
        verify_collection(store, "gallery", target)

    async def resumed(embedder: Embedder) -> ReindexReport:
        count_embedded(embedder, second)
        return await reindex_from_originals(
            embedder=embedder, store=store, originals=originals, source="gallery", target=target
        )

    report = with_model(tiny_bundle_dir, store, originals, resumed)
    assert report.already_present == stored
    assert sum(second) == report.embedded == 10 - stored
    verify_collection(store, "gallery", target)
    again: list[int] = []

    async def rerun(embedder: Embedder) -> ReindexReport:
        count_embedded(embedder, again)
        return await reindex_from_originals(
            embedder=embedder, store=store, originals=originals, source="gallery", target=target
        )

    assert with_model(tiny_bundle_dir, store, originals, rerun).embedded == 0
    assert again == []


def test_missing_originals_stop_it_before_anything_is_embedded(
    tiny_bundle_dir: Path, store: AliasedStore, originals: FilesystemOriginals, photos: list[bytes]
) -> None:
    serve_old(store, originals, photos)
    for data in photos[3:5]:
        originals.delete(point_id_for_bytes(data))
    counted: list[int] = []

    async def body(embedder: Embedder) -> object:
        target = store.create_collection("gallery", embedder.bundle.bundle_id, embedder.dim)
        count_embedded(embedder, counted)
        with pytest.raises(MissingOriginalsError) as failed:
            await reindex_from_originals(
                embedder=embedder,
                store=store,
                originals=originals,
                source="gallery",
                target=target.collection,
            )
        assert store.info(target.collection).count == 0
        return str(failed.value)

    message = str(with_model(tiny_bundle_dir, store, originals, body))
    assert counted == []
    assert message.startswith("2 image(s) in 'gallery' have no original kept")
    assert "foto-3.jpg" in message and "foto-4.jpg" in message
    assert point_id_for_bytes(photos[3]) in message
    assert "sguardo index" in message and "run the reindex again" in message


def test_refuses_a_target_built_by_another_bundle(
    tiny_bundle_dir: Path, store: AliasedStore, originals: FilesystemOriginals, photos: list[bytes]
) -> None:
    old = serve_old(store, originals, photos)

    async def body(embedder: Embedder) -> object:
        with pytest.raises(ModelMismatchError, match=OLD_BUNDLE):
            await reindex_from_originals(
                embedder=embedder, store=store, originals=originals, source="gallery", target=old
            )
        return None

    with_model(tiny_bundle_dir, store, originals, body)


def test_verify_names_extra_images(store: AliasedStore) -> None:
    store.ensure_collection("gallery", OLD_BUNDLE, 2)
    new = store.create_collection("gallery", "new@1", 2).collection
    ids = [point_id_for_bytes(bytes([n])) for n in range(3)]
    store.upsert("gallery", [Point(i, [1.0, 0.0], {}) for i in ids[:2]])
    store.upsert(new, [Point(i, [1.0, 0.0], {}) for i in ids])
    with pytest.raises(ReindexMismatchError, match=r"1 image\(s\) it holds are not in the source"):
        verify_collection(store, "gallery", new)
    store.delete(new, [ids[2]])
    report = verify_collection(store, "gallery", new)
    assert (report.source_count, report.target_count) == (2, 2)


def test_catch_up_after_the_swap(
    tiny_bundle_dir: Path, store: AliasedStore, originals: FilesystemOriginals, photos: list[bytes]
) -> None:
    old = serve_old(store, originals, photos[:8])
    ids = [point_id_for_bytes(data) for data in photos]

    async def body(embedder: Embedder) -> CatchUpReport:
        new = store.create_collection("gallery", embedder.bundle.bundle_id, embedder.dim)
        await reindex_from_originals(
            embedder=embedder, store=store, originals=originals, source=old, target=new.collection
        )
        # Before the swap the service, on the old collection, indexes photo 8 and deletes 0.
        store.upsert(old, [Point(ids[8], np.ones(OLD_DIM).tolist(), payload(8))])
        originals.put(ids[8], photos[8])
        store.delete(old, [ids[0]])
        originals.delete(ids[0])
        store.swap_alias("gallery", new.collection)
        # After it, on the new one, it deletes photo 1 and indexes photo 9.
        store.delete("gallery", [ids[1]])
        originals.delete(ids[1])
        vector = embedder.embed_images_unbatched([photos[9]])[0]
        store.upsert("gallery", [Point(ids[9], vector, payload(9))])
        originals.put(ids[9], photos[9])
        return await catch_up(
            embedder=embedder, store=store, originals=originals, source=old, target="gallery"
        )

    report = with_model(tiny_bundle_dir, store, originals, body)
    counts = (report.embedded, report.deleted, report.skipped_deleted)
    assert counts == (1, 1, 1)
    remaining = {p.id for batch in store.scroll("gallery") for p in batch}
    assert remaining == set(ids[2:10])
    assert store.retrieve("gallery", [ids[8]])[0].payload == payload(8)


KILLED_RUN = """
import asyncio, os, signal, sys
from pathlib import Path
from sguardo.service.core.settings import Settings
from sguardo.service.indexing.reindex import open_bundle_model, reindex_from_originals
from sguardo.service.originals.filesystem import FilesystemOriginals
from sguardo.service.store.embedded import EmbeddedStore

bundle, root, target = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
store, originals = EmbeddedStore(root / "store"), FilesystemOriginals(root / "originals")

def progress(done: int, total: int) -> None:
    if done >= 4:
        os.kill(os.getpid(), signal.SIGKILL)  # no flush, no close, no unlock

async def main() -> None:
    settings = Settings(bundle_path=bundle, max_wait_ms=1, intra_op_threads=1)
    async with open_bundle_model(bundle, store=store, originals=originals, settings=settings) as m:
        await reindex_from_originals(embedder=m.embedder, store=store, originals=originals,
                                     source="gallery", target=target, batch_size=2,
                                     on_progress=progress)

asyncio.run(main())
"""


def test_resumes_after_kill_9(
    tiny_bundle_dir: Path, tmp_path: Path, originals: FilesystemOriginals, photos: list[bytes]
) -> None:
    import signal
    import subprocess
    import sys

    from sguardo.bundle.loader import Bundle
    from sguardo.service.store.embedded import EmbeddedStore

    store = EmbeddedStore(tmp_path / "store")
    serve_old(store, originals, photos)
    target = store.create_collection("gallery", Bundle.load(tiny_bundle_dir).bundle_id, OLD_DIM)
    store.close()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tiny_bundle_dir), str(tmp_path), target.collection],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    store = EmbeddedStore(tmp_path / "store")  # the dead process's lock is gone with it
    try:
        stored = store.info(target.collection).count
        assert 4 <= stored < 10  # what was upserted before the kill survived it
        counted: list[int] = []

        async def resumed(embedder: Embedder) -> ReindexReport:
            count_embedded(embedder, counted)
            return await reindex_from_originals(
                embedder=embedder,
                store=store,
                originals=originals,
                source="gallery",
                target=target.collection,
            )

        report = with_model(tiny_bundle_dir, store, originals, resumed)
        assert (report.already_present, report.embedded, sum(counted)) == (
            stored,
            10 - stored,
            10 - stored,
        )
        verify_collection(store, "gallery", target.collection)
    finally:
        store.close()
