"""Training records from the configured data sources, cleaned, with a report."""

from __future__ import annotations

import logging

from sguardo.model.data.cleaning import CaptionFilter, CleaningReport
from sguardo.model.data.coco_labels import read_yolo_labelled_images
from sguardo.model.data.readers import (
    read_coco_captions,
    read_jsonl,
    read_labelled_folder,
    read_templates,
)
from sguardo.model.data.records import ImageCaptions
from sguardo.model.data.webdataset import expand_shards
from sguardo.model.train.config import DataSource, TrainConfig

log = logging.getLogger(__name__)


def read_source(source: DataSource) -> list[ImageCaptions]:
    if source.kind == "jsonl":
        return read_jsonl(source.path, source.images)
    if source.kind == "coco":
        if source.images is None:
            raise ValueError(f"coco source {source.path}: give `images` (the image folder)")
        return read_coco_captions(source.path, source.images)
    if source.kind == "labelled":
        if source.images is None or source.templates is None:
            raise ValueError(f"labelled source {source.path}: give `images` and `templates`")
        return read_labelled_folder(
            source.path,
            source.images,
            read_templates(source.templates),
            split=source.split,
            id_column=source.id_column,
            label_column=source.label_column,
            split_column=source.split_column,
        )
    if source.kind == "yolo":
        if source.images is None or source.classes is None:
            raise ValueError(f"yolo source {source.path}: give `images` and `classes`")
        return read_yolo_labelled_images(source.images, source.path, source.classes)
    raise ValueError(f"{source.kind} sources are streamed, not read into memory")


TEMPLATED = ("labelled", "yolo")


def training_records(
    config: TrainConfig,
) -> tuple[list[ImageCaptions], list[str], CleaningReport | None]:
    """(in-memory records, webdataset shard paths, cleaning report). Each in-memory source is
    cleaned on its own; label-generated captions are deduplicated only within an image."""
    records: list[ImageCaptions] = []
    shards: list[str] = []
    report: CleaningReport | None = None
    for source in config.data:
        if source.kind == "webdataset":
            shards += [str(p) for p in expand_shards(source.path)]
            continue
        found = read_source(source)
        if config.clean_captions:
            caption_filter = CaptionFilter(
                min_words=config.min_caption_words,
                max_words=config.max_caption_words,
                dedupe_across_images=source.kind not in TEMPLATED,
            )
            found, source_report = caption_filter.clean(found)
            if report is None:
                report = source_report
            else:
                report.merge(source_report)
        records += found
    if records and shards:
        raise ValueError("mixing webdataset shards with in-memory sources is not supported")
    return records, shards, report
