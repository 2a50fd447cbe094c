"""Readers for the project's shared data folder (`../shared/data`, see its README): the ImageNet
photos of `imagenet-sample-it` and `imagenet-extra`, Caltech-101, the Flickr8k sample and the
English COCO captions. Paths stay relative to the data folder, so a list (or a feature cache
keyed on it) means the same wherever the folder lies."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

IMAGENET = "imagenet-sample-it"
IMAGENET_EXTRA = "imagenet-extra"
CALTECH = "caltech101"
FLICKR = "flickr8k-sample"
COCO_CAPTIONS = "coco128/captions_en_val2017.jsonl"


@dataclass(frozen=True)
class ClassPhoto:
    """A photo of one class: `file` relative to the data folder, `label` the Italian name."""

    file: str
    class_id: str
    label: str


@dataclass(frozen=True)
class CaptionedPhoto:
    file: str  # relative to the data folder
    captions: tuple[str, ...]


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def imagenet_classes(data_dir: Path, split: str) -> dict[str, str]:
    """wnid → Italian label of `split`'s classes; `train` adds imagenet-extra's own classes."""
    classes = {
        row["wnid"]: row["italian"]
        for row in _tsv(data_dir / IMAGENET / "labels.tsv")
        if row["split"] == split
    }
    extra = data_dir / IMAGENET_EXTRA / "extra_classes_it.tsv"
    if split == "train" and extra.is_file():
        classes |= {row["wnid"]: row["italian"] for row in _tsv(extra)}
    return classes


def imagenet_photos(data_dir: Path, split: str, *, extra: bool = True) -> list[ClassPhoto]:
    """The split's photos: one per class from imagenet-sample-it (its `labels.tsv` order), then
    imagenet-extra's rows of that split (its `labels.tsv` order)."""
    classes = imagenet_classes(data_dir, split)
    photos = [
        ClassPhoto(f"{IMAGENET}/images/{row['wnid']}.jpg", row["wnid"], row["italian"])
        for row in _tsv(data_dir / IMAGENET / "labels.tsv")
        if row["split"] == split
    ]
    table = data_dir / IMAGENET_EXTRA / "labels.tsv"
    if extra and table.is_file():
        photos += [
            ClassPhoto(f"{IMAGENET_EXTRA}/{row['file']}", row["wnid"], classes[row["wnid"]])
            for row in _tsv(table)
            if row["split"] == split
        ]
    return photos


def caltech_photos(data_dir: Path) -> list[ClassPhoto]:
    photos = []
    for row in _tsv(data_dir / CALTECH / "classes.tsv"):
        folder = data_dir / CALTECH / "images" / row["class"]
        photos += [
            ClassPhoto(f"{CALTECH}/images/{row['class']}/{p.name}", row["class"], row["italian"])
            for p in sorted(folder.glob("*.jpg"))
        ]
    return photos


def _captioned(data_dir: Path, manifest: str, image_root: str) -> list[CaptionedPhoto]:
    rows = [json.loads(line) for line in (data_dir / manifest).read_text().splitlines() if line]
    return [CaptionedPhoto(f"{image_root}/{r['image']}", tuple(r["captions"])) for r in rows]


def flickr8k(data_dir: Path) -> list[CaptionedPhoto]:
    """The Flickr8k sample: 5 English captions per photo, in the manifest's order."""
    return _captioned(data_dir, f"{FLICKR}/captions_en.jsonl", FLICKR)


def coco_captions(data_dir: Path) -> list[CaptionedPhoto]:
    """coco128's val2017 photos that have English COCO captions."""
    return _captioned(data_dir, COCO_CAPTIONS, "coco128/images")


def write_image_list(photos: list[ClassPhoto], path: Path | None = None) -> str:
    """The `--image-list` TSV of `sguardo eval zeroshot`: `file` (relative to the data folder)
    and `wnid`. Written to `path` when given; the text is returned either way."""
    text = "file\twnid\n" + "".join(f"{p.file}\t{p.class_id}\n" for p in photos)
    if path is not None:
        path.write_text(text)
    return text
