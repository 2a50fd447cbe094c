"""Ranking metrics on small hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from sguardo.bundle.scoring import mean_class_embeddings
from sguardo.model.eval.metrics import mrr_at, ranking_report, ranks, recall_at
from sguardo.model.eval.retrieval import retrieval_metrics
from sguardo.model.eval.zeroshot import zeroshot_accuracy


def test_ranks_single_and_multiple_correct_items() -> None:
    sim = np.array(
        [
            [0.9, 0.1, 0.5],  # correct 0 → rank 1
            [0.9, 0.1, 0.5],  # correct 2 → rank 2
            [0.9, 0.1, 0.5],  # correct 1 → rank 3
            [0.9, 0.1, 0.5],  # correct {1, 2} → best is 2 → rank 2
        ]
    )
    assert ranks(sim, [[0], [2], [1], [1, 2]]).tolist() == [1, 2, 3, 2]


def test_ties_count_against_the_query() -> None:
    assert ranks(np.array([[0.5, 0.5, 0.1]]), [[1]]).tolist() == [2]


def test_mrr_and_recall_by_hand() -> None:
    rank = np.array([1, 2, 3, 11])
    # MRR@1 = (1 + 0 + 0 + 0) / 4; MRR@5 = (1 + 1/2 + 1/3 + 0) / 4; MRR@10 the same.
    assert mrr_at(rank, 1) == pytest.approx(0.25)
    assert mrr_at(rank, 5) == pytest.approx((1 + 0.5 + 1 / 3) / 4)
    assert mrr_at(rank, 10) == pytest.approx((1 + 0.5 + 1 / 3) / 4)
    assert recall_at(rank, 1) == 0.25
    assert recall_at(rank, 2) == 0.5
    assert recall_at(rank, 10) == 0.75
    assert ranking_report(rank, "x/", (1,)) == {"x/mrr@1": 0.25, "x/recall@1": 0.25}


def test_retrieval_metrics_both_directions() -> None:
    # Two images; captions 0, 1 belong to image 0 and caption 2 to image 1.
    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    texts = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # caption 1 points at the wrong image
    report = retrieval_metrics(images, texts, [0, 0, 1], ks=(1,))
    assert report["text_to_image/recall@1"] == pytest.approx(2 / 3)
    assert report["text_to_image/mrr@1"] == pytest.approx(2 / 3)
    # image 0: caption 0 ranks first; image 1: captions 1 and 2 tie, caption 2 gets rank 2.
    assert report["image_to_text/recall@1"] == pytest.approx(0.5)


def test_zeroshot_accuracy_and_template_mean() -> None:
    per_template = np.array(
        [[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [0.0, 1.0]]]
    )  # class 0 mean (0.8, 0.4), class 1 (0, 1)
    classes = mean_class_embeddings(per_template)
    np.testing.assert_allclose(classes[0], np.array([0.8, 0.4]) / np.hypot(0.8, 0.4))
    images = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    report = zeroshot_accuracy(images, classes, [0, 0, 0], ks=(1, 5))
    assert report["accuracy@1"] == pytest.approx(2 / 3)
    assert "accuracy@5" not in report  # k beyond the class count is not reported
