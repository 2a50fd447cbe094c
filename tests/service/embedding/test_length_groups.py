"""Length grouping: a batch of texts runs as groups of similar length, padded less, with every
caller's vectors unchanged (issue 13, Speed item 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sguardo.bundle.loader import Bundle
from sguardo.service.embedding.batching import plan_length_groups
from sguardo.service.embedding.embedder import Embedder
from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder
from tests.service.embedding.test_batching import each_concurrently


def padded_tokens(lengths: list[int], groups: list[list[int]]) -> int:
    return sum(len(g) * max(lengths[i] for i in g) for g in groups)


def test_groups_cover_every_row_once_shortest_first() -> None:
    lengths = [30, 5, 6, 29, 5, 31, 7, 8]
    groups = plan_length_groups(lengths, overhead=10)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    longest = [max(lengths[i] for i in g) for g in groups]
    assert longest == sorted(longest)
    assert len(groups) == 2  # the short ones and the long ones
    assert padded_tokens(lengths, groups) < len(lengths) * max(lengths)


def test_no_overhead_pads_nothing_and_a_large_one_keeps_one_batch() -> None:
    lengths = [3, 9, 4, 9, 17, 3]
    exact = plan_length_groups(lengths, overhead=0)
    assert padded_tokens(lengths, exact) == sum(lengths)
    assert plan_length_groups(lengths, overhead=1e9) == [sorted(range(6), key=lengths.__getitem__)]


def test_the_plan_is_the_cheapest_split() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = rng.integers(3, 40, size=int(rng.integers(1, 12))).tolist()
        overhead = float(rng.integers(0, 30))
        groups = plan_length_groups(lengths, overhead)
        cost = len(groups) * overhead + padded_tokens(lengths, groups)
        # Brute force over every split of the sorted lengths into contiguous runs.
        ordered = sorted(lengths)
        best = np.inf
        for mask in range(1 << (len(ordered) - 1)):
            runs, start = [], 0
            for i in range(1, len(ordered)):
                if mask >> (i - 1) & 1:
                    runs.append(ordered[start:i])
                    start = i
            runs.append(ordered[start:])
            best = min(best, sum(overhead + len(r) * max(r) for r in runs))
        assert cost == pytest.approx(best)


class CountingEncoder:
    """The real encoder, recording every engine call's shape and real tokens."""

    def __init__(self, inner: OnnxRuntimeEncoder) -> None:
        self.inner = inner
        self.calls: list[tuple[int, int, int]] = []  # rows, padded length, real tokens

    def encode_text(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.calls.append((ids.shape[0], ids.shape[1], int(mask.sum())))
        return self.inner.encode_text(ids, mask)

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        return self.inner.encode_images(pixels)


def test_grouped_batches_pad_less_and_give_every_caller_its_unbatched_vector(
    tiny_bundle_dir: Path, italian_sentences: list[str]
) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    encoder = CountingEncoder(OnnxRuntimeEncoder(bundle, intra_op_threads=1))
    embedder = Embedder(bundle, encoder, max_batch_size=32, max_wait_ms=30)  # type: ignore[arg-type]
    texts = [s * (1 + 3 * (i % 2)) for i, s in enumerate(italian_sentences)] * 2
    expected = np.concatenate([embedder.embed_texts_unbatched([t]) for t in texts])
    encoder.calls.clear()

    got = each_concurrently(embedder, embedder.embed_texts, texts)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert len(encoder.calls) > 1 and max(rows for rows, _, _ in encoder.calls) > 1
    padded = sum(rows * length for rows, length, _ in encoder.calls)
    real = sum(tokens for _, _, tokens in encoder.calls)
    assert padded / real < 1.15  # one padded batch of these would be ≈ 1.6


def test_grouping_off_runs_one_call_per_batch(
    tiny_bundle_dir: Path, italian_sentences: list[str]
) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    encoder = CountingEncoder(OnnxRuntimeEncoder(bundle, intra_op_threads=1))
    embedder = Embedder(bundle, encoder, group_overhead_tokens=None)  # type: ignore[arg-type]
    grouped = Embedder(bundle, encoder)  # type: ignore[arg-type]
    texts = [s * (1 + 3 * (i % 2)) for i, s in enumerate(italian_sentences)]
    plain = embedder.embed_texts_unbatched(texts)
    assert len(encoder.calls) == 1
    np.testing.assert_allclose(grouped.embed_texts_unbatched(texts), plain, atol=1e-5)
    assert len(encoder.calls) > 2
