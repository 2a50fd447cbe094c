"""WebDataset tar shards (data that does not fit on one disk): read as a stream, shard by shard.

A sample is the group of consecutive members sharing a key (`0001.jpg`, `0001.json`,
`0001.txt`); captions come from the JSON's `captions`/`caption` or the `.txt` lines.
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from sguardo.model.data.records import ImageCaptions

log = logging.getLogger(__name__)
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def _split_key(name: str) -> tuple[str, str]:
    base = name.rsplit("/", 1)[-1]
    directory = name[: len(name) - len(base)]
    key, _, extension = base.partition(".")
    return directory + key, extension.lower()


def _to_record(shard: Path, key: str, files: dict[str, bytes]) -> ImageCaptions | None:
    image = next((files[e] for e in IMAGE_EXTENSIONS if e in files), None)
    captions: list[str] = []
    if "json" in files:
        meta = json.loads(files["json"])
        captions = list(meta.get("captions") or ([meta["caption"]] if "caption" in meta else []))
    if not captions and "txt" in files:
        captions = [c.strip() for c in files["txt"].decode("utf-8").splitlines() if c.strip()]
    if image is None or not captions:
        log.warning("%s: sample %s has no image or no caption; skipped", shard, key)
        return None
    return ImageCaptions(f"{shard}#{key}", tuple(captions), data=image)


def iter_shard(shard: str | Path) -> Iterator[ImageCaptions]:
    shard = Path(shard)
    current: str | None = None
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(shard, "r|*") as stream:
            for member in stream:
                if not member.isfile():
                    continue
                key, extension = _split_key(member.name)
                if key != current and current is not None:
                    record = _to_record(shard, current, files)
                    if record is not None:
                        yield record
                    files = {}
                current = key
                handle = stream.extractfile(member)
                if handle is not None:
                    files[extension] = handle.read()
    except (tarfile.TarError, OSError) as exc:
        log.warning("%s: unreadable shard (%s); the rest of it is skipped", shard, exc)
    if current is not None and files:
        record = _to_record(shard, current, files)
        if record is not None:
            yield record


def iter_shards(shards: Iterable[str | Path]) -> Iterator[ImageCaptions]:
    for shard in shards:
        yield from iter_shard(shard)


def expand_shards(pattern: str) -> list[Path]:
    """`data/shard-{0000..0099}.tar` (brace range, as WebDataset writes it) or a glob."""
    import re

    match = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if match:
        start, end = match.groups()
        width = len(start)
        return [
            Path(pattern[: match.start()] + str(i).zfill(width) + pattern[match.end() :])
            for i in range(int(start), int(end) + 1)
        ]
    path = Path(pattern)
    return sorted(path.parent.glob(path.name)) if any(c in pattern for c in "*?[") else [path]
