"""A small real world for the pipeline: a deliberately weak current model (real backbones,
random projection heads) in a temporary registry, serving a gallery of real photos from the
embedded store with their originals kept."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sguardo.pipeline.sandbox import index_gallery

GALLERY_IMAGES = 40
FLICKR_IMAGES = 48
RETRIEVAL_IMAGES = 64


@dataclass(frozen=True)
class World:
    root: Path
    registry: Path
    store: Path
    originals: Path
    runs: Path
    weak_id: str
    data: Path  # shared data

    def config(self, name: str, new: list[dict], existing: list[dict] | None = None) -> Path:
        """A pipeline config (YAML) for one night."""
        data = self.data
        raw = {
            "registry": str(self.registry),
            "runs_dir": str(self.runs),
            "data": {"existing": existing if existing is not None else [], "new": new},
            "training": {"mode": "heads", "epochs": 20, "batch_size": 64, "lr": 2e-3},
            "evaluation": {
                "zeroshot": {
                    "labels": str(data / "imagenet-sample-it/labels.tsv"),
                    "images": str(data / "imagenet-sample-it/images"),
                    "templates": str(self.root / "templates.txt"),
                    "split": "dev",
                },
                "retrieval": {"kind": "jsonl", "path": str(self.root / "retrieval.jsonl")},
            },
            "gate": {"primary": "t2i_recall_at_10", "tolerance": 0.02},
            "store": {
                "mode": "direct",
                "kind": "embedded",
                "path": str(self.store),
                "originals": str(self.originals),
                "alias": "images",
                "batch_size": 2,
            },
            "parity": {"images": str(self.root / "parity")},
        }
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path


def coco_train(data: Path) -> dict:
    return {
        "kind": "yolo",
        "images": str(data / "coco128/images/train2017"),
        "path": str(data / "coco128/labels/train2017"),
        "classes": str(data / "coco128/classes_it.tsv"),
    }


def flickr_manifest(data: Path, target: Path, *, shuffle: bool) -> dict:
    """The night's new data: Flickr8k photos with their captions, or (shuffle) with the
    captions of other photos."""
    rows = [
        json.loads(line)
        for line in (data / "flickr8k-sample/captions_en.jsonl")
        .read_text()
        .splitlines()[:FLICKR_IMAGES]
    ]
    if shuffle:
        captions = [r["captions"] for r in rows]
        random.Random(0).shuffle(captions)
        rows = [r | {"captions": c} for r, c in zip(rows, captions, strict=True)]
    target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"kind": "jsonl", "path": str(target), "images": str(data / "flickr8k-sample")}


def _weak_model():
    import torch

    from sguardo.model.config import PRESETS
    from sguardo.model.dual_encoder import DualEncoder

    torch.manual_seed(0)
    config = PRESETS["e5-small-effnet-lite0"].model_copy(
        update={"embed_dim": 64, "model_id": "test/weak"}
    )
    return DualEncoder.from_config(config).eval()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> World:
    from sguardo.bundle.registry import Registry
    from sguardo.model.export.bundle_export import ExportOptions, export_bundle
    from sguardo.model.export.parity_inputs import default_captions

    root = tmp_path_factory.mktemp("pipeline")
    (root / "templates.txt").write_text("una foto di {}.\nuna bella foto di {}.\n")
    parity = root / "parity"
    parity.mkdir()
    for photo in sorted((shared_data / "coco128/images/val2017").glob("*.jpg"))[:4]:
        (parity / photo.name).write_bytes(photo.read_bytes())
    from sguardo.model.data.coco_labels import read_yolo_labelled_images
    from sguardo.model.export.parity_inputs import images_from_dir

    coco = shared_data / "coco128"
    val = read_yolo_labelled_images(
        coco / "images/val2017",
        coco / "labels/val2017",
        coco / "classes_it.tsv",
        prefixes=("una foto con ",),
    )[:RETRIEVAL_IMAGES]
    (root / "retrieval.jsonl").write_text(
        "".join(
            json.dumps({"image": str(r.image), "captions": [r.captions[0]]}) + "\n" for r in val
        )
    )

    exported = export_bundle(
        _weak_model(),
        root / "weak",
        default_captions()[:8],
        images_from_dir(parity),
        ExportOptions(progress=False),
    )
    registry = Registry(root / "registry")
    entry, _ = registry.add(exported.directory)
    registry.promote(entry.id)
    photos = sorted((shared_data / "imagenet-extra/images").glob("*.jpg"))[:GALLERY_IMAGES]
    index_gallery(entry.directory, root / "store", root / "originals", photos, "images")
    return World(
        root,
        registry.root,
        root / "store",
        root / "originals",
        root / "runs",
        entry.id,
        shared_data,
    )
