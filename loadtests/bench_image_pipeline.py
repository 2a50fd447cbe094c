"""Image pipeline ÷ engine: how much of each image's time decode + resize + normalise take.

For real coco128 photos (JPEG, 640 px on the long side): the engine alone (the bundle's vision
graph on ready pixels, batch 1) and the whole pipeline (bytes -> `ImagePreprocessor` -> the same
graph), interleaved photo by photo; items/s medians over rounds and their ratio. With
`--compare FILE` (another version of `sguardo/bundle/preprocessing.py`, e.g. from
`git show HEAD:sguardo/bundle/preprocessing.py > old.py`) that version's pipeline runs in the same
rounds, and its embeddings are compared with today's (worst-photo cosine).

    python loadtests/bench_image_pipeline.py [--bundle DIR] [--rounds 5] [--compare OLD.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from sguardo.bundle.loader import Bundle
from sguardo.bundle.tensors import PIXEL_VALUES

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload

DEMO = Path.home() / ".cache" / "sguardo" / "bundles" / "demo"


def load_module(path: Path):  # -> module
    spec = importlib.util.spec_from_file_location("preprocessing_compared", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEMO)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--compare", type=Path, help="another preprocessing.py to run alongside")
    args = parser.parse_args()
    bundle = Bundle.load(args.bundle)
    session = ort.InferenceSession(
        str(bundle.onnx_path("vision")), providers=["CPUExecutionProvider"]
    )
    photos = workload.photos(args.photos)
    preprocessors: dict[str, Callable[[bytes], np.ndarray]] = {"today": bundle.image_preprocessor()}
    if args.compare:
        old = load_module(args.compare)
        preprocessors["compared"] = old.ImagePreprocessor(bundle.manifest.image)
    ready = [preprocessors["today"](p)[None] for p in photos]

    def engine(i: int) -> np.ndarray:
        return session.run(None, {PIXEL_VALUES: ready[i]})[0]

    def pipeline(name: str) -> Callable[[int], np.ndarray]:
        prep = preprocessors[name]
        return lambda i: session.run(None, {PIXEL_VALUES: prep(photos[i])[None]})[0]

    cells: dict[str, Callable[[int], np.ndarray]] = {"engine alone": engine}
    cells |= {f"pipeline ({name})": pipeline(name) for name in preprocessors}
    seconds = {name: [0.0] * args.rounds for name in cells}
    rows: dict[str, list[np.ndarray]] = {name: [] for name in cells}
    names = list(cells)
    print(f"load before: {os.getloadavg()}", flush=True)
    for round_ in range(args.rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for i in range(len(photos)):
            for name in order:
                started = time.perf_counter()
                out = cells[name](i)
                seconds[name][round_] += time.perf_counter() - started
                if round_ == 0:
                    rows[name].append(out)
    print(f"load after: {os.getloadavg()}")
    rate = {name: statistics.median(len(photos) / s for s in seconds[name]) for name in names}
    ref = np.concatenate(rows["pipeline (today)"])
    print(f"\n{len(photos)} coco128 photos, batch 1, {args.rounds} interleaved rounds, medians")
    print("| cell | images/s | ÷ engine alone | worst cosine vs today |")
    print("| --- | ---: | ---: | ---: |")
    for name in names:
        got = np.concatenate(rows[name])
        cosine = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
        ratio = rate[name] / rate["engine alone"]
        print(f"| {name} | {rate[name]:.1f} | {ratio:.2f} | {cosine.min():.5f} |")


if __name__ == "__main__":
    main()
