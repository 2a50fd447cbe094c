"""Steps 1-2: collect the night's training data, then clean its captions.

Both write JSON Lines (`{"image": absolute path, "captions": [...], "new": bool}`) into the
run directory, so the training step reads one file whatever the sources' formats were, and a
resumed run trains on exactly what was collected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from sguardo.model.data.cleaning import CaptionFilter, CleaningReport
from sguardo.model.data.records import ImageCaptions
from sguardo.model.train.config import DataSource
from sguardo.model.train.sources import TEMPLATED, read_source
from sguardo.pipeline.config import DataConfig


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    temp = path.with_suffix(".tmp")
    count = 0
    with temp.open("w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    os.replace(temp, path)
    return count


def read_records(path: Path) -> list[tuple[ImageCaptions, dict]]:
    """(record, its row) for each line of a JSONL written by this module."""
    out = []
    with path.open() as lines:
        for line in lines:
            row = json.loads(line)
            out.append((ImageCaptions(Path(row["image"]), tuple(row["captions"])), row))
    return out


def _read(source: DataSource) -> list[ImageCaptions]:
    if source.kind == "webdataset":
        raise ValueError(
            f"{source.path}: webdataset shards are streamed and cannot be collected; "
            "give the nightly data as JSONL manifests, COCO caption files or labelled folders"
        )
    return read_source(source)


def collect(config: DataConfig, output: Path) -> dict:
    """Read every source; an image missing on disk is dropped here, with a count."""
    rows: list[dict] = []
    counts = {"existing": 0, "new": 0, "missing_images": 0}
    dropped = sorted(config.incoming.glob("*.jsonl")) if config.incoming else []
    new = config.new + [DataSource(kind="jsonl", path=str(path)) for path in dropped]
    for is_new, sources in ((False, config.existing), (True, new)):
        for index, source in enumerate(sources):
            for record in _read(source):
                if not Path(record.image).is_file():
                    counts["missing_images"] += 1
                    continue
                rows.append(
                    {
                        "image": str(Path(record.image).resolve()),
                        "captions": list(record.captions),
                        "new": is_new,
                        # label-made captions repeat across images by design (see cleaning)
                        "templated": source.kind in TEMPLATED,
                        "source": f"{'new' if is_new else 'existing'}[{index}]",
                    }
                )
                counts["new" if is_new else "existing"] += 1
    if not rows:
        raise ValueError("no training data found: check data.existing and data.new")
    output.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(output, rows)
    return {
        "images": len(rows),
        **counts,
        "incoming_manifests": [path.name for path in dropped],
        "file": str(output),
    }


def clean(config: DataConfig, collected: Path, output: Path) -> dict:
    """clip-italian's caption filter (model/data/cleaning.py), per source as training does."""
    by_source: dict[str, list[tuple[ImageCaptions, dict]]] = {}
    for record, row in read_records(collected):
        by_source.setdefault(row["source"], []).append((record, row))
    kept: list[dict] = []
    report: CleaningReport | None = None
    for pairs in by_source.values():
        records = [r for r, _ in pairs]
        rows = {str(r.image): row for r, row in pairs}
        if config.clean_captions:
            caption_filter = CaptionFilter(
                min_words=config.min_caption_words,
                max_words=config.max_caption_words,
                dedupe_across_images=not pairs[0][1]["templated"],
            )
            records, source_report = caption_filter.clean(records)
            if report is None:
                report = source_report
            else:
                report.merge(source_report)
        kept += [rows[str(r.image)] | {"captions": list(r.captions)} for r in records]
    _write_jsonl(output, kept)
    return {
        "images": len(kept),
        "captions": sum(len(r["captions"]) for r in kept),
        "cleaning": report.as_dict() if report else None,
        "file": str(output),
    }
