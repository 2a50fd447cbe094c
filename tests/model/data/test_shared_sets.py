"""Readers of the shared data folder's new sources, on a miniature copy of its layout."""

from __future__ import annotations

from pathlib import Path

from sguardo.model.benchmarks.sets import class_captions
from sguardo.model.data.shared_sets import (
    caltech_photos,
    coco_captions,
    flickr8k,
    imagenet_classes,
    imagenet_photos,
)
from tests.model.benchmarks.miniature import write_miniature_data


def test_imagenet_photos_of_a_split(tmp_path: Path) -> None:
    write_miniature_data(tmp_path)
    dev = imagenet_photos(tmp_path, "dev")
    # imagenet-sample-it's single photo of each dev class first, then imagenet-extra's
    assert [p.file for p in dev][:2] == [
        "imagenet-sample-it/images/n04.jpg",
        "imagenet-sample-it/images/n05.jpg",
    ]
    assert all(p.class_id in ("n04", "n05") for p in dev) and len(dev) == 4
    assert [p.file for p in imagenet_photos(tmp_path, "dev", extra=False)] == [
        p.file for p in dev[:2]
    ]
    train_classes = imagenet_classes(tmp_path, "train")
    assert "n99" in train_classes and "n04" not in train_classes  # extra class, never dev
    train = imagenet_photos(tmp_path, "train")
    assert {p.class_id for p in train} == {"n00", "n01", "n02", "n03", "n99"}
    assert next(p for p in train if p.class_id == "n99").label == "una persona"
    assert all((tmp_path / p.file).is_file() for p in dev + train)


def test_caltech_flickr_and_coco_captions(tmp_path: Path) -> None:
    write_miniature_data(tmp_path)
    caltech = caltech_photos(tmp_path)
    assert len(caltech) == 6 and caltech[0].file == "caltech101/images/accordion/image_0001.jpg"
    assert caltech[0].label == "una fisarmonica"
    flickr = flickr8k(tmp_path)
    assert len(flickr) == 10 and len(flickr[0].captions) == 5
    assert (tmp_path / flickr[0].file).is_file()
    coco = coco_captions(tmp_path)
    assert (
        coco[0].file.startswith("coco128/images/val2017/") and (tmp_path / coco[0].file).is_file()
    )


def test_class_captions_are_the_same_for_every_photo_of_a_class(tmp_path: Path) -> None:
    write_miniature_data(tmp_path)
    photos = caltech_photos(tmp_path)
    templates = ["una foto di {}", "un disegno di {}", "{} in primo piano"]
    captions = class_captions(photos, templates, 2, seed=0)
    assert captions[0] == captions[1] != captions[-1] and len(captions[0]) == 2
    assert all("fisarmonica" in c for c in captions[0])
    assert class_captions(photos, templates, 2, seed=0) == captions  # seeded
