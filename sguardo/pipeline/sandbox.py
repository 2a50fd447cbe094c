"""A sandbox for one real night on ../shared/data: `sguardo pipeline sandbox DIR` exports the
demo model (with its checkpoint) into a fresh registry as the current bundle, indexes a gallery
of real photos into an embedded store with their originals, and writes a pipeline config whose
new data are Flickr8k's captioned photos. Then `sguardo pipeline nightly --config DIR/config.yaml`
runs a real night against it (the README's numbers come from exactly that).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import yaml

ZEROSHOT = "imagenet-sample-it"
TRAIN_TEMPLATES = 8  # the demo model's recipe: 8 templates per training class


def index_gallery(
    bundle_dir: Path, store_path: Path, originals_path: Path, photos: Sequence[Path], alias: str
) -> int:
    """Index `photos` with the bundle into the embedded store, keeping their originals."""
    from sguardo.service.core.settings import Settings
    from sguardo.service.indexing.indexer import ImageInput
    from sguardo.service.indexing.reindex import open_bundle_model
    from sguardo.service.originals.filesystem import FilesystemOriginals
    from sguardo.service.store.embedded import EmbeddedStore

    store = EmbeddedStore(store_path)
    originals = FilesystemOriginals(originals_path)
    settings = Settings(bundle_path=bundle_dir, collection=alias, max_wait_ms=1)

    async def run() -> int:
        async with open_bundle_model(
            bundle_dir, store=store, originals=originals, settings=settings
        ) as model:
            for start in range(0, len(photos), 32):
                batch = photos[start : start + 32]
                await model.indexer.index([ImageInput(p.read_bytes(), p.name) for p in batch])
        return store.info(alias).count

    try:
        return asyncio.run(run())
    finally:
        store.close()


def sandbox_config(root: Path, data: Path, *, flickr_images: int) -> dict:
    templates = (data / ZEROSHOT / "templates_it.txt").read_text().splitlines()
    unique = list(dict.fromkeys(t for t in templates if "{}" in t))
    (root / "train_templates.txt").write_text("\n".join(unique[:TRAIN_TEMPLATES]) + "\n")
    flickr = data / "flickr8k-sample" / "captions_en.jsonl"
    incoming = root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in flickr.read_text().splitlines()[:flickr_images]]
    for row in rows:  # a drop box manifest: image paths relative to its own folder, or absolute
        row["image"] = str(flickr.parent / row["image"])
    (incoming / "flickr8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    coco = data / "coco128"
    return {
        "registry": str(root / "registry"),
        "runs_dir": str(root / "runs"),
        "data": {
            "existing": [
                {
                    "kind": "labelled",
                    "path": str(data / ZEROSHOT / "labels.tsv"),
                    "images": str(data / ZEROSHOT / "images"),
                    "templates": str(root / "train_templates.txt"),
                    "split": "train",
                },
                {
                    "kind": "yolo",
                    "images": str(coco / "images/train2017"),
                    "path": str(coco / "labels/train2017"),
                    "classes": str(coco / "classes_it.tsv"),
                },
            ],
            "incoming": str(incoming),
        },
        "training": {"mode": "heads", "epochs": 10, "batch_size": 128, "lr": 2e-4},
        "evaluation": {
            "zeroshot": {
                "labels": str(data / ZEROSHOT / "labels.tsv"),
                "images": str(data / ZEROSHOT / "images"),
                "templates": str(data / ZEROSHOT / "templates_it.txt"),
                "split": "dev",
            },
            "retrieval": {
                "kind": "yolo",
                "images": str(coco / "images/val2017"),
                "path": str(coco / "labels/val2017"),
                "classes": str(coco / "classes_it.tsv"),
            },
        },
        "gate": {"primary": "t2i_recall_at_10", "tolerance": 0.02},
        "store": {
            "mode": "direct",
            "kind": "embedded",
            "path": str(root / "store"),
            "originals": str(root / "originals"),
            "alias": "images",
        },
    }


def build_sandbox(root: Path, data: Path, *, gallery: int = 200, flickr_images: int = 1000) -> dict:
    """Registry + gallery + config under `root`; returns what was made."""
    from sguardo.bundle.registry import Registry
    from sguardo.model.demo import load_demo_model
    from sguardo.model.export.bundle_export import ExportOptions, export_bundle
    from sguardo.model.export.parity_inputs import default_captions, default_images

    root.mkdir(parents=True, exist_ok=True)
    config = sandbox_config(root, data, flickr_images=flickr_images)
    exported = export_bundle(
        load_demo_model(),
        root / "demo-bundle",
        default_captions(),
        default_images(),
        ExportOptions(overwrite=True, progress=False),
    )
    registry = Registry(Path(config["registry"]))
    entry, _ = registry.add(exported.directory)
    registry.promote(entry.id)
    photos = sorted((data / "coco128" / "images").rglob("*.jpg"))[:gallery]
    count = index_gallery(
        entry.directory, root / "store", root / "originals", photos, config["store"]["alias"]
    )
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return {"config": str(path), "current": entry.id, "gallery": count}
