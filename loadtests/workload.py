"""Real inputs for the load tests: MSCOCO-IT captions, coco128 photos, Italian COCO labels.

Standard library only, so that Locust's workers and the wrk benchmark read the same data without
importing the service. The data folder is `SGUARDO_DATA_DIR`, else `../shared/data` next to the
repository (never copied into it).
"""

from __future__ import annotations

import gzip
import json
import os
import random
from functools import lru_cache
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir() -> Path:
    found = Path(os.environ.get("SGUARDO_DATA_DIR") or DEFAULT_DATA)
    if not found.is_dir():
        raise FileNotFoundError(f"no data folder at {found}; set SGUARDO_DATA_DIR")
    return found


@lru_cache(maxsize=1)
def captions(limit: int = 5000) -> tuple[str, ...]:
    """Italian captions from every MSCOCO-IT file (COCO caption JSON, gzipped), shuffled with a
    fixed seed so that runs send the same queries in the same order."""
    found: list[str] = []
    for path in sorted((data_dir() / "mscoco-it").glob("*.json.gz")):
        with gzip.open(path) as fh:
            found += [a["caption"].strip() for a in json.load(fh)["annotations"]]
    found = [c for c in found if c]
    if not found:
        raise FileNotFoundError(f"no MSCOCO-IT captions under {data_dir() / 'mscoco-it'}")
    random.Random(0).shuffle(found)
    return tuple(found[:limit])


@lru_cache(maxsize=1)
def photos(limit: int = 64) -> tuple[bytes, ...]:
    """Real JPEG photos (coco128, 640 px on the long side), bounded in count: each Locust
    process holds them all in memory."""
    files = sorted((data_dir() / "coco128" / "images").glob("*/*.jpg"))
    if not files:
        raise FileNotFoundError(f"no photos under {data_dir() / 'coco128' / 'images'}")
    random.Random(0).shuffle(files)
    return tuple(f.read_bytes() for f in files[:limit])


@lru_cache(maxsize=1)
def labels() -> tuple[str, ...]:
    """The 80 COCO classes in Italian (`classes_it.tsv`: id, english, italian)."""
    lines = (data_dir() / "coco128" / "classes_it.tsv").read_text(encoding="utf-8").splitlines()
    return tuple(line.split("\t")[2] for line in lines[1:] if line.count("\t") >= 2)


# What a search page mostly does: text queries dominate, writes are rare.
DEFAULT_MIX: dict[str, int] = {
    "search_text": 6,
    "search_image": 2,
    "embed_text": 3,
    "embed_image": 2,
    "index": 1,
    "classify": 1,
}


def parse_mix(text: str) -> dict[str, int]:
    """ "name=weight,..." over the defaults; unknown names are an error, not a silent no-op."""
    mix = dict(DEFAULT_MIX)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in DEFAULT_MIX:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(DEFAULT_MIX)}")
        if int(weight) < 0:
            raise ValueError(f"negative weight for {name}")
        mix[name] = int(weight)
    if not any(mix.values()):
        raise ValueError("every scenario has weight 0")
    return mix
