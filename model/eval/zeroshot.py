"""Zero-shot classification, clip-italian's ImageNet protocol: each class embedding is the
normalised mean of its template embeddings; accuracy@k over the candidate labels."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sguardo.bundle.scoring import mean_class_embeddings
from sguardo.model.data.readers import read_label_table
from sguardo.model.eval.embedders import Embedder
from sguardo.model.eval.metrics import ranking_report, ranks

log = logging.getLogger(__name__)
DEFAULT_KS = (1, 5, 10, 100)


@dataclass
class ZeroShotSet:
    labels: list[str]  # class names, one per class
    images: list[bytes]  # one entry per evaluated image
    targets: list[int]  # class index of each image
    missing: int = 0


def load_labelled_images(
    labels_file: str | Path,
    images_dir: str | Path,
    *,
    split: str | None = None,
    id_column: str = "wnid",
    label_column: str = "italian",
    split_column: str = "split",
    suffix: str = ".jpg",
) -> ZeroShotSet:
    """Every row of the (split of the) labels table is a class; its image is
    `images_dir/<id><suffix>`. Rows whose image is missing stay as candidate classes."""
    rows = read_label_table(labels_file, split=split, split_column=split_column)
    data = ZeroShotSet([row[label_column] for row in rows], [], [])
    for index, row in enumerate(rows):
        path = Path(images_dir) / f"{row[id_column]}{suffix}"
        try:
            data.images.append(path.read_bytes())
            data.targets.append(index)
        except OSError:
            data.missing += 1
    if data.missing:
        log.warning("%d image(s) missing under %s: not evaluated", data.missing, images_dir)
    return data


def class_embeddings(
    embedder: Embedder, labels: Sequence[str], templates: Sequence[str]
) -> np.ndarray:
    texts = [t.format(label) for label in labels for t in templates]
    return mean_class_embeddings(
        embedder.embed_texts(texts).reshape(len(labels), len(templates), -1)
    )


def zeroshot_accuracy(
    image_embeddings: np.ndarray,
    class_embeds: np.ndarray,
    targets: Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    rank = ranks(image_embeddings @ class_embeds.T, [[t] for t in targets])
    report = ranking_report(rank, "", [k for k in ks if k <= class_embeds.shape[0]], mrr=False)
    return {k.replace("recall@", "accuracy@"): v for k, v in report.items()}


def evaluate_zeroshot(
    embedder: Embedder, data: ZeroShotSet, templates: Sequence[str], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    classes = class_embeddings(embedder, data.labels, templates)
    report = zeroshot_accuracy(embedder.embed_images(data.images), classes, data.targets, ks)
    return report | {"classes": float(len(data.labels)), "images": float(len(data.images))}
