"""The dynamic batcher: each caller gets exactly its rows, bounded queue, failures contained."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from sguardo.bundle.loader import Bundle
from sguardo.service.core.metrics import Metrics
from sguardo.service.embedding.batching import DynamicBatcher, Overloaded
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder

T = TypeVar("T")


def each_concurrently(
    embedder: Embedder,
    embed: Callable[[list[T]], Awaitable[np.ndarray]],
    items: Sequence[T],
) -> np.ndarray:
    """Every item its own concurrent call through the started batcher; rows in input order."""

    async def run() -> list[np.ndarray]:
        embedder.start()
        try:
            return await asyncio.gather(*(embed([item]) for item in items))
        finally:
            await embedder.stop()

    return np.concatenate(asyncio.run(run()))


def rows_for(items: list[float]) -> np.ndarray:
    return np.asarray([[x, 2 * x, -x] for x in items], dtype=np.float32)


class RecordingInfer:
    def __init__(self) -> None:
        self.batches: list[list[float]] = []

    def __call__(self, items: list[float]) -> np.ndarray:
        self.batches.append(list(items))
        return rows_for(items)


async def _with_batcher(batcher: DynamicBatcher, coro_factory):
    batcher.start()
    try:
        return await coro_factory()
    finally:
        await batcher.stop()


def test_concurrent_callers_get_their_own_rows_in_fewer_batches() -> None:
    infer = RecordingInfer()
    metrics = Metrics()
    batcher = DynamicBatcher("text", infer, max_batch_size=16, max_wait_ms=20, metrics=metrics)
    requests = [[float(100 * i + j) for j in range(1 + i % 4)] for i in range(24)]

    async def run() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.submit(r) for r in requests))

    results = asyncio.run(_with_batcher(batcher, run))
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result, rows_for(request))
    assert len(infer.batches) < len(requests)  # they really were batched together
    assert max(len(b) for b in infer.batches) <= 16
    assert sum(len(b) for b in infer.batches) == sum(len(r) for r in requests)
    count = metrics.registry.get_sample_value("sguardo_batch_size_count", {"tower": "text"})
    assert count == len(infer.batches)


def test_a_request_larger_than_a_batch_is_split_and_reassembled_in_order() -> None:
    infer = RecordingInfer()
    batcher = DynamicBatcher("vision", infer, max_batch_size=4, max_wait_ms=0)
    items = [float(i) for i in range(11)]

    result = asyncio.run(_with_batcher(batcher, lambda: batcher.submit(items)))

    np.testing.assert_array_equal(result, rows_for(items))
    assert [len(b) for b in infer.batches] == [4, 4, 3]


def test_batching_off_runs_one_item_per_inference() -> None:
    infer = RecordingInfer()
    batcher = DynamicBatcher("text", infer, max_batch_size=1, max_wait_ms=5)

    async def run() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.submit([float(i)]) for i in range(8)))

    results = asyncio.run(_with_batcher(batcher, run))
    assert all(len(b) == 1 for b in infer.batches) and len(infer.batches) == 8
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, rows_for([float(i)]))


def test_a_lone_caller_is_not_kept_waiting_for_company() -> None:
    batcher = DynamicBatcher("text", RecordingInfer(), max_batch_size=32, max_wait_ms=500)

    async def run() -> float:
        await batcher.submit([0.0])  # warm
        started = time.perf_counter()
        for i in range(5):
            await batcher.submit([float(i)])
        return time.perf_counter() - started

    assert asyncio.run(_with_batcher(batcher, run)) < 0.5  # not 5 x 500 ms


def test_full_queue_refuses_with_overloaded_and_a_retry_hint() -> None:
    release = threading.Event()
    metrics = Metrics()

    def slow_infer(items: list[float]) -> np.ndarray:
        release.wait(5)
        return rows_for(items)

    batcher = DynamicBatcher(
        "text", slow_infer, max_batch_size=2, max_wait_ms=0, max_queue=4, metrics=metrics
    )

    async def run() -> None:
        first = asyncio.create_task(batcher.submit([1.0, 2.0]))  # taken by the worker, blocks
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(batcher.submit([3.0, 4.0, 5.0, 6.0]))  # fills the queue
        await asyncio.sleep(0.01)
        assert batcher.queued_items == 4
        with pytest.raises(Overloaded) as refused:
            await batcher.submit([7.0])
        assert refused.value.retry_after >= 1
        assert "queue full" in str(refused.value)
        release.set()
        np.testing.assert_array_equal(await first, rows_for([1.0, 2.0]))
        np.testing.assert_array_equal(await queued, rows_for([3.0, 4.0, 5.0, 6.0]))

    asyncio.run(_with_batcher(batcher, run))
    rejected = metrics.registry.get_sample_value(
        "sguardo_rejected_requests_total", {"reason": "text_queue_full"}
    )
    assert rejected == 1


def test_a_failing_batch_fails_its_callers_and_the_batcher_keeps_going() -> None:
    calls = 0

    def flaky(items: list[float]) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return rows_for(items)

    batcher = DynamicBatcher("text", flaky, max_batch_size=8, max_wait_ms=0)

    async def run() -> np.ndarray:
        with pytest.raises(RuntimeError, match="boom"):
            await batcher.submit([1.0])
        return await batcher.submit([2.0])

    np.testing.assert_array_equal(asyncio.run(_with_batcher(batcher, run)), rows_for([2.0]))


def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    infer = RecordingInfer()
    metrics = Metrics()
    batcher = DynamicBatcher("text", infer, max_batch_size=8, max_wait_ms=30, metrics=metrics)

    async def run() -> np.ndarray:
        doomed = asyncio.create_task(batcher.submit([1.0, 2.0]))
        kept = asyncio.create_task(batcher.submit([3.0]))
        await asyncio.sleep(0)
        doomed.cancel()
        return await kept

    np.testing.assert_array_equal(asyncio.run(_with_batcher(batcher, run)), rows_for([3.0]))
    # The cancelled caller's items were dropped from the queue, never inferred.
    assert infer.batches == [[3.0]]
    assert metrics.registry.get_sample_value("sguardo_queue_depth", {"tower": "text"}) == 0


# --- with the real tiny bundle: batched rows equal unbatched ones


@pytest.fixture(scope="module")
def tiny_embedder_parts(tiny_bundle_dir: Path) -> tuple[Bundle, OnnxRuntimeEncoder]:
    bundle = Bundle.load(tiny_bundle_dir)
    return bundle, OnnxRuntimeEncoder(bundle, intra_op_threads=1)


def _jpegs(shared_data: Path, count: int) -> list[bytes]:
    paths = sorted((shared_data / "imagenet-sample-it" / "images").glob("*.jpg"))[:count]
    paths += sorted((shared_data / "coco128" / "images").glob("*/*.jpg"))[: count - len(paths)]
    return [p.read_bytes() for p in paths]


def test_concurrent_text_callers_get_the_unbatched_vectors(
    tiny_embedder_parts: tuple[Bundle, OnnxRuntimeEncoder], italian_sentences: list[str]
) -> None:
    bundle, encoder = tiny_embedder_parts
    embedder = Embedder(bundle, encoder, max_batch_size=16, max_wait_ms=20)
    # Different lengths in one batch: padding to the longest must not change any vector.
    texts = [s * (1 + i % 3) for i, s in enumerate(italian_sentences)] * 3
    expected = np.concatenate([embedder.embed_texts_unbatched([t]) for t in texts])

    got = each_concurrently(embedder, embedder.embed_texts, texts)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_concurrent_image_callers_get_the_unbatched_vectors(
    tiny_embedder_parts: tuple[Bundle, OnnxRuntimeEncoder], shared_data: Path
) -> None:
    bundle, encoder = tiny_embedder_parts
    embedder = Embedder(bundle, encoder, max_batch_size=8, max_wait_ms=20)
    images = _jpegs(shared_data, 12)
    expected = np.concatenate([embedder.embed_images_unbatched([x]) for x in images])

    got = each_concurrently(embedder, embedder.embed_images, images)
    assert got.shape == (len(images), bundle.manifest.embedding_dim)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_poisoned_caller_fails_alone_and_its_batch_mates_get_their_rows() -> None:
    """One caller's bad input must never fail the callers batched with it (issue 14, item 1)."""
    infer = RecordingInfer()

    def refuses_negative(items: list[float]) -> np.ndarray:
        if any(x < 0 for x in items):
            raise ValueError("the encoder refuses negative items")
        return infer(items)

    batcher = DynamicBatcher("text", refuses_negative, max_batch_size=32, max_wait_ms=30)
    requests = [[float(i), float(i) + 0.5] for i in range(12)]
    requests.insert(5, [7.0, -1.0])  # the culprit, in the middle of the batch

    async def run() -> list[np.ndarray | BaseException]:
        return await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)

    results = asyncio.run(_with_batcher(batcher, run))
    assert isinstance(results[5], ValueError)
    for request, result in zip(requests, results, strict=True):
        if request != [7.0, -1.0]:
            assert isinstance(result, np.ndarray), result
            np.testing.assert_array_equal(result, rows_for(request))
    assert any(len(b) > 2 for b in infer.batches) or len(infer.batches) == 12


def test_when_the_encoder_is_down_every_caller_gets_its_error() -> None:
    def down(items: list[float]) -> np.ndarray:
        raise RuntimeError("encoder unreachable")

    batcher = DynamicBatcher("vision", down, max_batch_size=8, max_wait_ms=20)

    async def run() -> list[np.ndarray | BaseException]:
        return await asyncio.gather(
            *(batcher.submit([float(i)]) for i in range(5)), return_exceptions=True
        )

    results = asyncio.run(_with_batcher(batcher, run))
    assert all(isinstance(r, RuntimeError) for r in results)
