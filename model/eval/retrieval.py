"""Text↔image retrieval: every caption is a query whose one right answer is its image; every
image a query whose right answers are its captions; the gallery is all images (all captions)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sguardo.model.data.records import ImageCaptions
from sguardo.model.eval.embedders import Embedder
from sguardo.model.eval.metrics import ranking_report, ranks

log = logging.getLogger(__name__)


@dataclass
class RetrievalSet:
    images: list[bytes]
    captions: list[str]
    caption_image: list[int]  # index into images of each caption's image
    missing: int = 0


def retrieval_set(records: Sequence[ImageCaptions]) -> RetrievalSet:
    data = RetrievalSet([], [], [])
    for record in records:
        try:
            image = record.read_bytes()
        except OSError as exc:
            log.warning("skipped missing image %s: %s", record.image, exc)
            data.missing += 1
            continue
        for caption in record.captions:
            data.captions.append(caption)
            data.caption_image.append(len(data.images))
        data.images.append(image)
    return data


def retrieval_metrics(
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    caption_image: Sequence[int],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    similarity = text_embeddings @ image_embeddings.T
    text_to_image = ranks(similarity, [[i] for i in caption_image])
    captions_of: list[list[int]] = [[] for _ in range(image_embeddings.shape[0])]
    for caption, image in enumerate(caption_image):
        captions_of[image].append(caption)
    image_to_text = ranks(similarity.T, captions_of)
    return ranking_report(text_to_image, "text_to_image/", ks) | ranking_report(
        image_to_text, "image_to_text/", ks
    )


def evaluate_retrieval(
    embedder: Embedder, data: RetrievalSet, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    report = retrieval_metrics(
        embedder.embed_images(data.images),
        embedder.embed_texts(data.captions),
        data.caption_image,
        ks,
    )
    return report | {"images": float(len(data.images)), "captions": float(len(data.captions))}
