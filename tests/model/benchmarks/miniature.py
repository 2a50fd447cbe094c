"""A miniature of the shared data folder's layout (`../shared/data`), with tiny random photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def _photo(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, size=(36, 44, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def write_miniature_data(root: Path) -> Path:
    """imagenet-sample-it (4 train + 2 dev classes), imagenet-extra (one more train class, extra
    photos of both splits), caltech101 (2 classes × 3), flickr8k-sample (10 photos), coco128."""
    sample, extra = root / "imagenet-sample-it", root / "imagenet-extra"
    names = ["una tinca", "un gatto", "un cane", "una tazza", "un treno", "una barca"]
    rows = ["wnid\tenglish\titalian\titalian_long\tclass_id\tsplit"]
    for i, name in enumerate(names):
        split = "dev" if i >= 4 else "train"
        rows.append(f"n{i:02d}\tx\t{name}\tuna foto di {name}\t{i}\t{split}")
        _photo(sample / "images" / f"n{i:02d}.jpg", i)
    (sample / "labels.tsv").write_text("\n".join(rows) + "\n")
    (sample / "templates_it.txt").write_text("una foto di {}\nun disegno di {}\n{} da vicino\n")
    extra_rows = ["file\twnid\tsplit"]
    for i, (wnid, split) in enumerate(
        [("n00", "train"), ("n01", "train"), ("n99", "train"), ("n04", "dev"), ("n05", "dev")]
    ):
        extra_rows.append(f"images/{wnid}_acuity_{i}.jpg\t{wnid}\t{split}")
        _photo(extra / "images" / f"{wnid}_acuity_{i}.jpg", 100 + i)
    (extra / "labels.tsv").write_text("\n".join(extra_rows) + "\n")
    (extra / "extra_classes_it.tsv").write_text(
        "wnid\tenglish\titalian\nn99\tperson\tuna persona\n"
    )
    caltech = root / "caltech101"
    (caltech / "images").mkdir(parents=True)
    (caltech / "classes.tsv").write_text(
        "class\tenglish\titalian\naccordion\taccordion\tuna fisarmonica\n"
        "anchor\tanchor\tun'ancora\n"
    )
    for c, name in enumerate(("accordion", "anchor")):
        for j in range(1, 4):
            _photo(caltech / "images" / name / f"image_{j:04d}.jpg", 200 + 10 * c + j)
    flickr = root / "flickr8k-sample"
    lines = []
    for i in range(10):
        _photo(flickr / "images" / f"{i}_f.jpg", 300 + i)
        captions = [f"A dog number {i} runs {k}" for k in range(5)]
        lines.append(json.dumps({"image": f"images/{i}_f.jpg", "captions": captions}))
    (flickr / "captions_en.jsonl").write_text("\n".join(lines) + "\n")
    coco = root / "coco128"
    coco.mkdir()
    (coco / "classes_it.tsv").write_text("id\tenglish\titalian\n0\tperson\tpersona\n1\tdog\tcane\n")
    coco_lines = []
    for folder in ("train2017", "val2017"):
        (coco / "labels" / folder).mkdir(parents=True)
        for i in range(6):
            name = f"{i:012d}"
            _photo(
                coco / "images" / folder / f"{name}.jpg", 400 + i + (10 if folder[0] == "v" else 0)
            )
            (coco / "labels" / folder / f"{name}.txt").write_text(f"{i % 2} 0.5 0.5 0.2 0.2\n")
            if folder == "val2017" and i < 4:
                captions = [f"A person with a dog {i}", f"Someone outside {i}"]
                coco_lines.append(
                    json.dumps({"image": f"val2017/{name}.jpg", "captions": captions})
                )
    (coco / "captions_en_val2017.jsonl").write_text("\n".join(coco_lines) + "\n")
    return root
