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
from sguardo.model.eval.metrics import ranking_report, ranks, recall_intervals

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


def load_image_list(
    labels_file: str | Path,
    images_dir: str | Path,
    image_list: str | Path,
    *,
    split: str | None = None,
    id_column: str = "wnid",
    label_column: str = "italian",
    split_column: str = "split",
) -> ZeroShotSet:
    """Several photos per class: `image_list` is a TSV with a header and columns `file`
    (relative to `images_dir`) and `id_column` (a class id of `labels_file`). The candidates stay
    every class of the (split of the) labels table; a listed photo of a class outside it is an
    error (it could never be right), a missing file is counted and skipped."""
    rows = read_label_table(labels_file, split=split, split_column=split_column)
    index = {row[id_column]: i for i, row in enumerate(rows)}
    data = ZeroShotSet([row[label_column] for row in rows], [], [])
    listed = read_label_table(image_list)
    if listed and not {"file", id_column} <= listed[0].keys():
        raise ValueError(f"{image_list}: needs the columns 'file' and {id_column!r}")
    unknown = sorted({row[id_column] for row in listed} - index.keys())
    if unknown:
        raise ValueError(
            f"{image_list}: {len(unknown)} class id(s) not among the candidates of "
            f"{labels_file}{f' (split {split})' if split else ''}, e.g. {unknown[0]}"
        )
    for row in listed:
        try:
            data.images.append((Path(images_dir) / row["file"]).read_bytes())
            data.targets.append(index[row[id_column]])
        except OSError:
            data.missing += 1
    if data.missing:
        log.warning("%d listed image(s) missing under %s: not evaluated", data.missing, images_dir)
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
    return zeroshot_with_intervals(image_embeddings, class_embeds, targets, ks, resamples=0)[0]


Intervals = dict[str, tuple[float, float]]


def zeroshot_with_intervals(
    image_embeddings: np.ndarray,
    class_embeds: np.ndarray,
    targets: Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, float], Intervals]:
    """Accuracy@k and, with `resamples` > 0, its bootstrap 95% interval over the images."""
    rank = ranks(image_embeddings @ class_embeds.T, [[t] for t in targets])
    ks = [k for k in ks if k <= class_embeds.shape[0]]
    report = ranking_report(rank, "", ks, mrr=False)
    intervals = recall_intervals(rank, "", ks, resamples, seed) if resamples else {}
    rename = {f"recall@{k}": f"accuracy@{k}" for k in ks}
    return (
        {rename[k]: v for k, v in report.items()},
        {rename[k]: v for k, v in intervals.items()},
    )


def evaluate_zeroshot(
    embedder: Embedder, data: ZeroShotSet, templates: Sequence[str], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    return evaluate_zeroshot_with_intervals(embedder, data, templates, ks, resamples=0)[0]


def evaluate_zeroshot_with_intervals(
    embedder: Embedder,
    data: ZeroShotSet,
    templates: Sequence[str],
    ks: Sequence[int] = DEFAULT_KS,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, float], Intervals]:
    classes = class_embeddings(embedder, data.labels, templates)
    report, intervals = zeroshot_with_intervals(
        embedder.embed_images(data.images), classes, data.targets, ks, resamples, seed
    )
    counts = {"classes": float(len(data.labels)), "images": float(len(data.images))}
    return report | counts, intervals
