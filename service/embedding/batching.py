"""Cross-request dynamic batching: one async batcher per tower.

Callers submit their items and await their own rows. A single worker collects waiting
items until `max_batch_size` rows or `max_wait_ms` have passed, runs one inference off the
event loop and hands each caller its slice. While one batch runs the next one queues up, and
the worker only waits for company when callers overlap, so a lone caller is not delayed.
The queue is bounded in items: beyond `max_queue` a caller gets `Overloaded` (HTTP 503 +
Retry-After) instead of unbounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from sguardo.service.core.metrics import Metrics

T = TypeVar("T")
logger = logging.getLogger("sguardo.batching")


def plan_length_groups(lengths: Sequence[int], overhead: float) -> list[list[int]]:
    """Split one batch of sequences into groups, each padded only to its own longest, so that
    the estimated cost is least: every group costs `overhead` (an engine call's fixed cost, in
    tokens) plus its rows x its longest length. Returns the indices of `lengths`, grouped,
    shortest first. An exact dynamic programme over the distinct lengths (at most the
    tokenizer's max_length of them), so it stays cheap for any batch size.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    distinct = sorted(set(lengths))
    # rows_upto[k]: rows whose length is at most distinct[k-1]
    rows_upto = [0] * (len(distinct) + 1)
    for k, value in enumerate(distinct):
        rows_upto[k + 1] = rows_upto[k] + sum(1 for n in lengths if n == value)
    best = [0.0] + [math.inf] * len(distinct)
    cut = [0] * (len(distinct) + 1)
    for end in range(1, len(distinct) + 1):
        for start in range(end):
            cost = best[start] + overhead + (rows_upto[end] - rows_upto[start]) * distinct[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    bounds, end = [], len(distinct)
    while end > 0:
        bounds.append((rows_upto[cut[end]], rows_upto[end]))
        end = cut[end]
    return [order[a:b] for a, b in reversed(bounds)]


class Overloaded(Exception):
    """The queue is full; retry after `retry_after` seconds."""

    def __init__(self, tower: str, retry_after: int = 1) -> None:
        super().__init__(
            f"the {tower} encoder is busy ({tower} queue full); retry in {retry_after}s"
        )
        self.tower = tower
        self.retry_after = retry_after


@dataclass(eq=False)
class _Pending(Generic[T]):
    items: Sequence[T]
    future: asyncio.Future[np.ndarray]
    next_row: int = 0  # first item not yet handed to a batch
    rows: list[np.ndarray | None] = field(default_factory=list)
    filled: int = 0


class DynamicBatcher(Generic[T]):
    def __init__(
        self,
        tower: str,
        infer: Callable[[list[T]], np.ndarray],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        metrics: Metrics | None = None,
    ) -> None:
        self.tower = tower
        self._infer = infer
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self._metrics = metrics
        if metrics:  # both series exist from the start, so dashboards show an idle queue as 0
            metrics.queue_capacity.labels(tower).set(max_queue)
            metrics.queue_depth.labels(tower).set(0)
        self._queue: deque[_Pending[T]] = deque()
        self._queued_items = 0
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._batch_seconds = 0.05  # running estimate, for Retry-After
        # Waiting for company only pays when callers overlap; a lone caller would just be
        # delayed by max_wait_ms. Overlap shows as several callers in one batch, or as
        # arrivals while a batch runs.
        self._overlapping = False
        self._running = False
        # A thread of its own: inference must not queue behind image decoding, which runs in
        # the event loop's default executor.
        self._executor: ThreadPoolExecutor | None = None

    @property
    def queued_items(self) -> int:
        return self._queued_items

    def start(self) -> None:
        if self._worker is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"sguardo-{self.tower}")
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError(f"{self.tower} batcher stopped"))
        self._queue.clear()
        self._set_queued(0)

    async def submit(self, items: Sequence[T]) -> np.ndarray:
        """Embed `items`; returns their rows, in order, as one (len(items), dim) array."""
        if not items:
            raise ValueError("submit() needs at least one item")
        if self._worker is None:
            raise RuntimeError(f"{self.tower} batcher is not started")
        if self._queued_items + len(items) > self.max_queue:
            raise self.overloaded()
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(items, future, rows=[None] * len(items)))
        self._set_queued(self._queued_items + len(items))
        if self._running:
            self._overlapping = True
        self._arrived.set()
        return await future

    def overloaded(self, waiting: int | None = None) -> Overloaded:
        """The refusal for a caller that finds no room (counted), to raise; `waiting`: the
        items ahead of it if more than the queue holds (images still decoding)."""
        if self._metrics:
            self._metrics.rejected.labels(f"{self.tower}_queue_full").inc()
        return Overloaded(self.tower, self._retry_after(waiting))

    def _retry_after(self, waiting: int | None = None) -> int:
        ahead = self._queued_items if waiting is None else max(waiting, self._queued_items)
        batches_ahead = ahead / self.max_batch_size
        return max(1, math.ceil(batches_ahead * self._batch_seconds))

    def _set_queued(self, value: int) -> None:
        self._queued_items = value
        if self._metrics:
            self._metrics.queue_depth.labels(self.tower).set(value)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            deadline = loop.time() + (self.max_wait if self._overlapping else 0.0)
            # Wait a little for company, unless a full batch is already there.
            while self._queued_items < self.max_batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
            batch = self._take()
            if not self._queue:
                self._arrived.clear()
            if batch:
                self._overlapping = len(batch) > 1  # more than one caller in this batch
                self._running = True
                try:
                    await self._run_batch(batch)
                finally:
                    self._running = False

    def _take(self) -> list[tuple[_Pending[T], int, int]]:
        """Up to max_batch_size items from the head of the queue, as (pending, start, stop)."""
        taken: list[tuple[_Pending[T], int, int]] = []
        room = self.max_batch_size
        while self._queue and room > 0:
            pending = self._queue[0]
            if pending.future.done():  # caller went away (cancelled): skip its items
                self._queue.popleft()
                self._set_queued(self._queued_items - (len(pending.items) - pending.next_row))
                continue
            start = pending.next_row
            stop = min(len(pending.items), start + room)
            taken.append((pending, start, stop))
            pending.next_row = stop
            room -= stop - start
            self._set_queued(self._queued_items - (stop - start))
            if stop == len(pending.items):
                self._queue.popleft()
        return taken

    async def _run_batch(self, batch: list[tuple[_Pending[T], int, int]]) -> None:
        items = [item for pending, start, stop in batch for item in pending.items[start:stop]]
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            vectors = await loop.run_in_executor(self._executor, self._infer, items)
        except Exception as exc:
            if len(batch) == 1:
                logger.error("%s inference failed for %d items: %r", self.tower, len(items), exc)
                if not batch[0][0].future.done():
                    batch[0][0].future.set_exception(exc)
                return
            # One caller's input must not fail the others batched with it: run each caller's
            # slice alone, so only the culprit (or, if the encoder is down, everyone) fails.
            logger.warning(
                "%s inference failed for a batch of %d callers (%r); retrying each alone",
                self.tower,
                len(batch),
                exc,
            )
            for part in batch:
                await self._run_batch([part])
            return
        elapsed = time.perf_counter() - started
        self._batch_seconds = 0.8 * self._batch_seconds + 0.2 * elapsed
        if self._metrics:
            self._metrics.batch_size.labels(self.tower).observe(len(items))
            self._metrics.encoder_latency.labels(self.tower).observe(elapsed)
        offset = 0
        for pending, start, stop in batch:
            rows = vectors[offset : offset + (stop - start)]
            offset += stop - start
            if pending.future.done():
                continue
            for i, row in enumerate(rows):
                pending.rows[start + i] = row
            pending.filled += stop - start
            if pending.filled == len(pending.items):
                pending.future.set_result(np.stack(pending.rows))  # type: ignore[arg-type]
