"""Readers on real files (coco128, imagenet-sample-it, MSCOCO-IT) and small synthetic ones."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from sguardo.model.data.coco_labels import describe, indefinite, plural, read_yolo_labelled_images
from sguardo.model.data.readers import (
    read_coco_captions,
    read_jsonl,
    read_labelled_folder,
    read_templates,
)
from sguardo.model.data.webdataset import expand_shards, iter_shards


def _jpeg(colour: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), colour, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_labelled_folder_on_imagenet_sample(shared_data: Path) -> None:
    root = shared_data / "imagenet-sample-it"
    templates = read_templates(root / "templates_it.txt")
    dev = read_labelled_folder(root / "labels.tsv", root / "images", templates, split="dev")
    train = read_labelled_folder(root / "labels.tsv", root / "images", templates, split="train")
    assert (len(train), len(dev)) == (800, 100)
    assert not {r.image for r in dev} & {r.image for r in train}
    assert all(Path(r.image).is_file() for r in dev)
    assert train[0].captions[0] == templates[0].format("una tinca")


def test_coco128_captions_from_labels(shared_data: Path) -> None:
    coco = shared_data / "coco128"
    records = read_yolo_labelled_images(
        coco / "images/val2017", coco / "labels/val2017", coco / "classes_it.tsv"
    )
    assert len(records) > 100
    assert all(r.captions[0].startswith("una foto con ") for r in records)
    assert all(Path(r.image).is_file() for r in records)


def test_italian_noun_phrases() -> None:
    assert indefinite("zaino") == "uno zaino"
    assert indefinite("automobile") == "un'automobile"
    assert indefinite("mela") == "una mela"
    assert plural("persona") == "persone"
    assert plural("mucca") == "mucche"
    assert plural("bicchiere da vino") == "bicchieri da vino"
    from collections import Counter

    assert describe(Counter({"cane": 1, "persona": 2})) == "una foto con due persone e un cane"


def test_coco_caption_json_real_and_synthetic(shared_data: Path, tmp_path: Path) -> None:
    records = read_coco_captions(
        shared_data / "mscoco-it/captions_ita_devset_unvalidated.json.gz", tmp_path
    )
    assert len(records) > 1000 and all(r.captions for r in records)
    data = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [
            {"image_id": 1, "caption": "un gatto"},
            {"image_id": 1, "caption": "un gatto nero "},
        ],
    }
    (tmp_path / "c.json").write_text(json.dumps(data))
    [only] = read_coco_captions(tmp_path / "c.json", tmp_path)
    assert only.image == tmp_path / "a.jpg" and only.captions == ("un gatto", "un gatto nero")


def test_jsonl_skips_malformed_lines(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text(
        '{"image": "a.jpg", "captions": ["uno", "due"]}\nnot json\n'
        '{"image": "b.jpg", "caption": "tre"}\n'
    )
    records = read_jsonl(tmp_path / "m.jsonl")
    assert [r.captions for r in records] == [("uno", "due"), ("tre",)]
    assert records[0].image == tmp_path / "a.jpg"


def test_webdataset_shard(tmp_path: Path) -> None:
    shard = tmp_path / "shard-0000.tar"
    with tarfile.open(shard, "w") as tar:
        for key, meta in (("s1", {"captions": ["un cane", "un cane bianco"]}), ("s2", None)):
            files = {f"{key}.jpg": _jpeg()}
            if meta:
                files[f"{key}.json"] = json.dumps(meta).encode()
            else:
                files[f"{key}.txt"] = b"una barca\nuna vela\n"
            for name, payload in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    (tmp_path / "shard-0001.tar").write_bytes(b"not a tar file")
    shards = expand_shards(str(tmp_path / "shard-{0000..0001}.tar"))
    records = list(iter_shards(shards))  # the broken shard is skipped with a warning
    assert [r.captions for r in records] == [
        ("un cane", "un cane bianco"),
        ("una barca", "una vela"),
    ]
    assert records[0].read_bytes()[:2] == b"\xff\xd8"
