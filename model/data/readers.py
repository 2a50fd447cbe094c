"""Readers for image–caption data on disk: JSONL manifests (clip-italian's format), COCO caption
JSON (MSCOCO-IT's), and labelled image folders whose labels become captions via templates."""

from __future__ import annotations

import csv
import gzip
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sguardo.model.data.records import ImageCaptions

log = logging.getLogger(__name__)


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open()


def read_jsonl(path: str | Path, image_root: str | Path | None = None) -> list[ImageCaptions]:
    """`{"image": "rel/path.jpg", "captions": ["...", ...]}` one per line; a single
    `"caption"` string is accepted too. Paths are relative to `image_root` (default: the
    manifest's folder)."""
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    records = []
    with _open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                captions = row.get("captions") or [row["caption"]]
                records.append(ImageCaptions(root / row["image"], tuple(map(str, captions))))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                log.warning("%s:%d: skipped malformed line (%s)", path, number, exc)
    return records


def read_coco_captions(path: str | Path, image_root: str | Path) -> list[ImageCaptions]:
    """COCO caption format (`images` + `annotations` with `image_id`, `caption`); `.json.gz` too."""
    with _open_text(Path(path)) as handle:
        data = json.load(handle)
    captions: dict[int, list[str]] = defaultdict(list)
    for annotation in data["annotations"]:
        captions[annotation["image_id"]].append(str(annotation["caption"]).strip())
    root = Path(image_root)
    return [
        ImageCaptions(root / image["file_name"], tuple(captions[image["id"]]))
        for image in data["images"]
        if captions.get(image["id"])
    ]


def read_templates(path: str | Path) -> list[str]:
    """Prompt templates, one a line, `{}` standing for the label."""
    templates = [t.strip() for t in Path(path).read_text().splitlines() if "{}" in t]
    if not templates:
        raise ValueError(f"{path}: no templates (lines containing '{{}}')")
    return templates


def read_label_table(
    path: str | Path, *, split: str | None = None, split_column: str = "split"
) -> list[dict[str, str]]:
    """Rows of a labels TSV, optionally only those whose `split_column` equals `split`."""
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if split is not None:
        if rows and split_column not in rows[0]:
            raise ValueError(f"{path}: no column {split_column!r} to select split {split!r}")
        rows = [r for r in rows if r[split_column] == split]
    return rows


def read_labelled_folder(
    labels: str | Path,
    images: str | Path,
    templates: Sequence[str],
    *,
    split: str | None = None,
    id_column: str = "wnid",
    label_column: str = "italian",
    split_column: str = "split",
    suffix: str = ".jpg",
) -> list[ImageCaptions]:
    """A class dataset (image `images/<id><suffix>` per labels row) turned into captions: every
    template filled with the row's Italian label. `label` is the row's index in the table."""
    rows = read_label_table(labels, split=split, split_column=split_column)
    root = Path(images)
    return [
        ImageCaptions(
            root / f"{row[id_column]}{suffix}",
            tuple(t.format(row[label_column]) for t in templates),
            label=index,
        )
        for index, row in enumerate(rows)
    ]
