"""The offline benchmark's training sources, each turned into cached backbone features.

A source is a list of photos with their captions: real captions (Flickr8k, COCO English), or a
class label filled into Italian templates (ImageNet, Caltech-101), or a description of the
photo's object labels (coco128). Each source's image views and caption texts are cached under
its own name, keyed on files relative to the data folder, so adding, removing or holding out a
source never recomputes the others.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.model.benchmarks.features import BackboneFeatures
from sguardo.model.data.augment import TrainAugment
from sguardo.model.data.coco_labels import read_yolo_labelled_images
from sguardo.model.data.shared_sets import (
    ClassPhoto,
    caltech_photos,
    coco_captions,
    flickr8k,
    imagenet_photos,
)

SOURCES = ("imagenet", "caltech", "flickr8k", "coco-captions", "coco-labels")


@dataclass
class TrainGroup:
    """One source's training material: `views[i]` the crops of photo i, `captions[i]` the text
    features of its captions, `classes[i]` its class (None: a photo of its own)."""

    name: str
    files: list[str]
    views: np.ndarray  # (photos, views, vision_hidden)
    captions: list[np.ndarray]
    classes: list[str | None]

    def select(self, keep: np.ndarray) -> TrainGroup:
        return TrainGroup(
            self.name,
            [self.files[i] for i in keep],
            self.views[keep],
            [self.captions[i] for i in keep],
            [self.classes[i] for i in keep],
        )


def class_captions(
    photos: list[ClassPhoto], templates: list[str], count: int, seed: int
) -> list[tuple[str, ...]]:
    """`count` of the templates filled with each class's label; which ones depends only on the
    class and the seed, so every photo of a class gets the same captions."""
    chosen: dict[str, tuple[str, ...]] = {}
    for photo in photos:
        if photo.class_id not in chosen:
            rng = np.random.default_rng([seed, zlib.crc32(photo.class_id.encode())])
            picks = rng.choice(len(templates), min(count, len(templates)), replace=False)
            chosen[photo.class_id] = tuple(templates[j].format(photo.label) for j in picks)
    return [chosen[p.class_id] for p in photos]


class SourceFeatures:
    """Backbone features of the shared data's photos and texts, through the feature cache."""

    def __init__(self, data_dir: Path, backbones: BackboneFeatures, views: int, seed: int):
        self.data_dir = data_dir
        self.backbones = backbones
        self.n_views = views
        self.seed = seed
        self.preprocessor = ImagePreprocessor(backbones.model.image_preprocessing)
        self.augment = TrainAugment(backbones.model.image_preprocessing)

    def clean(self, name: str, files: list[str]) -> np.ndarray:
        """(photos, hidden): the evaluation crop of each photo."""
        read = self._reader(files)
        return self.backbones.images(name, files, lambda i: self.preprocessor(read(i)))

    def views(self, name: str, files: list[str]) -> np.ndarray:
        """(photos, views, hidden): the evaluation crop, then views - 1 augmented ones."""
        read = self._reader(files)

        def view(i: int) -> np.ndarray:
            photo, v = divmod(i, self.n_views)
            decoded = self.preprocessor.decode(read(photo))
            if v == 0:
                return self.preprocessor.to_array(decoded)
            return self.augment(decoded, np.random.default_rng([self.seed, photo, v]))

        identity = [f"{f}#view{v}#seed{self.seed}" for f in files for v in range(self.n_views)]
        return self.backbones.images(f"views-{name}", identity, view).reshape(
            len(files), self.n_views, -1
        )

    def texts(self, name: str, captions: list[tuple[str, ...]]) -> list[np.ndarray]:
        """Per photo, the features of its captions; each distinct text is encoded once."""
        unique = sorted({c for cs in captions for c in cs})
        features = self.backbones.texts(f"texts-{name}", unique)
        row = {text: i for i, text in enumerate(unique)}
        return [features[[row[c] for c in cs]] for cs in captions]

    def _reader(self, files: list[str]) -> Callable[[int], bytes]:
        return lambda i: (self.data_dir / files[i]).read_bytes()


def train_group(
    name: str, sources: SourceFeatures, templates: list[str], train_templates: int, seed: int
) -> TrainGroup:
    data = sources.data_dir
    classes: list[str | None]
    if name in ("imagenet", "caltech"):
        photos = imagenet_photos(data, "train") if name == "imagenet" else caltech_photos(data)
        files = [p.file for p in photos]
        captions = class_captions(photos, templates, train_templates, seed)
        classes = [f"{name}:{p.class_id}" for p in photos]
    elif name in ("flickr8k", "coco-captions"):
        captioned = flickr8k(data) if name == "flickr8k" else coco_captions(data)
        files = [p.file for p in captioned]
        captions = [p.captions for p in captioned]
        classes = [None] * len(files)
    elif name == "coco-labels":
        coco = data / "coco128"
        records = read_yolo_labelled_images(
            coco / "images/train2017", coco / "labels/train2017", coco / "classes_it.tsv"
        )
        files = [str(Path(r.image).relative_to(data)) for r in records]
        captions = [r.captions for r in records]
        classes = [None] * len(files)
    else:
        raise ValueError(f"unknown training source {name!r}; known: {', '.join(SOURCES)}")
    return TrainGroup(
        name, files, sources.views(name, files), sources.texts(name, captions), classes
    )
