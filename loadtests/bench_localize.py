"""The pointing game on coco128: POST /localize's method against the centre and random baselines.

For every (photo, class present) pair of a split, the phrase is the Italian class name
(`classes_it.tsv`) through a template; a hit when the heatmap's peak lies in any box of the
class. Runs the bundle through ONNX Runtime with the service's own localizer (torch-free),
one locate call per photo (all its classes as phrases: each phrase is scored on its own, so
this changes no result), and prints a Markdown table plus time and crops per photo.
Tune on `--split train2017`; report on `val2017`.

    python loadtests/bench_localize.py [--bundle DIR] [--split val2017] [--limit N]
        [--scales 0.2,0.3,0.4,0.5] [--overlap 0.5] [--grid-cells 32]
        [--dense-sides 384,512,640,768 | none] [--dense-weight 0.5] [--smoothing 1]
        [--template "una foto di {}."]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from sguardo.bundle import paths
from sguardo.bundle.pointing import (
    SIZES,
    Pair,
    Tally,
    covered_fraction,
    is_hit,
    read_yolo_boxes,
)
from sguardo.service.core.settings import LocalizeSettings, Settings
from sguardo.service.localize.localizer import Localizer
from sguardo.service.localize.standalone import locate_file, standalone_localizer

DATA = Path(
    os.environ.get("SGUARDO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
TEMPLATE = "una foto di {}."


def class_names(coco: Path) -> dict[int, str]:
    with (coco / "classes_it.tsv").open(encoding="utf-8") as f:
        return {int(row["id"]): row["italian"] for row in csv.DictReader(f, delimiter="\t")}


async def play(
    localizer: Localizer, coco: Path, split: str, template: str, limit: int | None
) -> tuple[dict[str, Tally], list[float], list[int], str]:
    names = class_names(coco)
    tallies = {method: Tally.empty() for method in ("localize", "centre", "random")}
    seconds: list[float] = []
    crops: list[int] = []
    method = "crops"
    images = sorted((coco / "images" / split).glob("*.jpg"))[:limit]
    for path in images:
        label_file = coco / "labels" / split / f"{path.stem}.txt"
        if not label_file.exists():  # a photo without objects has no pair to play
            continue
        with Image.open(path) as probe:
            width, height = probe.size
        per_class = read_yolo_boxes(label_file, width, height)
        pairs = [Pair(path, cls, boxes) for cls, boxes in sorted(per_class.items())]
        started = time.perf_counter()
        _, result = await locate_file(
            localizer, path, [template.format(names[p.class_id]) for p in pairs]
        )
        seconds.append(time.perf_counter() - started)
        crops.append(result.crops)
        method = result.method
        for pair, found in zip(pairs, result.phrases, strict=True):
            tallies["localize"].add(pair.size, float(is_hit(found.point, pair.boxes)))
            tallies["centre"].add(pair.size, float(is_hit((width / 2, height / 2), pair.boxes)))
            tallies["random"].add(pair.size, covered_fraction(pair.boxes, width, height))
    return tallies, seconds, crops, method


METHOD_LABELS = {
    "crops": "crops + phrase vs neutral prompts (ours)",
    "crops+dense": "crops and dense map (ours)",
}


def table(tallies: dict[str, Tally], method: str = "crops") -> str:
    labels = {
        "localize": METHOD_LABELS[method],
        "centre": "image centre",
        "random": "uniform random point (expected)",
    }
    counts = tallies["centre"]
    head = (
        f"| method | all ({counts.count()}) | "
        + " | ".join(f"{s} ({counts.count([s])})" for s in SIZES)
        + " |"
    )
    lines = [head, "| --- | ---: | ---: | ---: | ---: |"]
    for method, tally in tallies.items():
        cells = [tally.accuracy()] + [tally.accuracy([s]) for s in SIZES]
        lines.append(f"| {labels[method]} | " + " | ".join(f"{100 * c:.1f}" for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=paths.demo_bundle_dir())
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", default="val2017")
    parser.add_argument("--limit", type=int, default=None, help="first N photos only")
    parser.add_argument("--template", default=TEMPLATE)
    parser.add_argument("--scales", default=None, help="comma-separated; default: the service's")
    parser.add_argument("--overlap", type=float, default=None)
    parser.add_argument("--grid-cells", type=int, default=None, help="cells on the long side")
    parser.add_argument(
        "--dense-sides", default=None, help="comma-separated short sides, or none: crops alone"
    )
    parser.add_argument("--dense-weight", type=float, default=None)
    parser.add_argument("--smoothing", type=float, default=None, help="blur, in cells")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    args = parser.parse_args()
    options = LocalizeSettings()
    if args.scales:
        options.scales = [float(s) for s in args.scales.split(",")]
    if args.overlap is not None:
        options.overlap = args.overlap
    if args.grid_cells is not None:
        options.grid_cells = args.grid_cells
    if args.dense_sides is not None:
        sides = "" if args.dense_sides == "none" else args.dense_sides
        options.dense_sides = [int(s) for s in sides.split(",") if s]
    if args.dense_weight is not None:
        options.dense_weight = args.dense_weight
    if args.smoothing is not None:
        options.smoothing = args.smoothing
    settings = Settings(bundle_path=args.bundle, localize=options, intra_op_threads=args.threads)

    async def run() -> tuple[dict[str, Tally], list[float], list[int], str]:
        async with standalone_localizer(settings) as localizer:
            return await play(
                localizer, args.data / "coco128", args.split, args.template, args.limit
            )

    tallies, seconds, crops, method = asyncio.run(run())
    dense = (
        f"dense sides {options.dense_sides}, weight {options.dense_weight}, smoothing "
        f"{options.smoothing}"
        if method == "crops+dense"
        else "no dense map"
    )
    print(
        f"pointing game, coco128 {args.split}, template {args.template!r}, scales "
        f"{options.scales}, overlap {options.overlap}, {dense}; accuracy %:\n"
    )
    print(table(tallies, method))
    ratio = tallies["localize"].accuracy() / tallies["centre"].accuracy()
    print(f"\nours / centre: {ratio:.2f}x")
    print(
        f"{len(seconds)} photos: {np.mean(seconds):.2f} s per photo (median "
        f"{np.median(seconds):.2f}), {np.mean(crops):.0f} crops per photo "
        f"({min(crops)}-{max(crops)})"
    )


if __name__ == "__main__":
    main()
