"""Ranking metrics on a similarity matrix (numpy only).

`ranks` gives, for every query, the 1-based rank of its best-ranked correct item; MRR@k is the
mean of 1/rank where rank ≤ k (0 otherwise), as clip-italian reports it; Recall@k (= accuracy@k
for classification) the share of queries with rank ≤ k. Ties count against the query: a
correct item tied with a wrong one gets the worse rank.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ranks(similarity: np.ndarray, correct: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """1-based rank of the best correct column for each row of `similarity` (queries × items).
    `correct[i]` is one column index or a collection of them."""
    similarity = np.asarray(similarity, dtype=np.float64)
    out = np.empty(similarity.shape[0], dtype=np.int64)
    for i, targets in enumerate(correct):
        target_ids = np.atleast_1d(np.asarray(targets, dtype=np.int64))
        best = similarity[i, target_ids].max()
        wrong = np.ones(similarity.shape[1], dtype=bool)
        wrong[target_ids] = False
        out[i] = 1 + int((similarity[i, wrong] >= best).sum())
    return out


def mrr_at(rank: np.ndarray, k: int) -> float:
    return float(np.where(rank <= k, 1.0 / rank, 0.0).mean()) if rank.size else 0.0


def recall_at(rank: np.ndarray, k: int) -> float:
    return float((rank <= k).mean()) if rank.size else 0.0


def ranking_report(
    rank: np.ndarray, prefix: str, ks: Sequence[int] = (1, 5, 10), mrr: bool = True
) -> dict[str, float]:
    report = {}
    for k in ks:
        if mrr:
            report[f"{prefix}mrr@{k}"] = mrr_at(rank, k)
        report[f"{prefix}recall@{k}"] = recall_at(rank, k)
    return report


def bootstrap_interval(
    hits: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `hits` (one 0/1 or score per query):
    the queries resampled with replacement `resamples` times, with a seeded generator."""
    hits = np.asarray(hits, dtype=np.float64)
    if hits.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = hits[rng.integers(0, hits.size, size=(resamples, hits.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return (float(low), float(high))


def recall_intervals(
    rank: np.ndarray, prefix: str, ks: Sequence[int], resamples: int = 1000, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """`{prefix}recall@k` → its bootstrap 95% interval (same resamples for every k)."""
    return {f"{prefix}recall@{k}": bootstrap_interval(rank <= k, resamples, seed) for k in ks}
