"""Padding and text items/s with length grouping on and off, at a given concurrency.

In process (no HTTP, so the client takes no CPU from the engine): the service's own `Embedder`
and `DynamicBatcher` over a bundle's ONNX Runtime encoder, `--concurrency` callers each sending
one MSCOCO-IT caption at a time in a loop. Every engine call's padded and real tokens are
counted. Grouping on and off alternate in interleaved rounds; medians over rounds.

    python loadtests/bench_padding.py [--bundle DIR] [--rounds 5] [--seconds 8] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from sguardo.bundle.loader import Bundle
from sguardo.service.embedding.embedder import GROUP_OVERHEAD_TOKENS, Embedder
from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload

DEMO = Path.home() / ".cache" / "sguardo" / "bundles" / "demo"


class CountingEncoder:
    def __init__(self, inner: OnnxRuntimeEncoder) -> None:
        self.inner = inner
        self.padded = self.real = self.calls = 0

    def encode_text(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.padded += ids.size
        self.real += int(mask.sum())
        self.calls += 1
        return self.inner.encode_text(ids, mask)

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        return self.inner.encode_images(pixels)


async def measure(
    embedder: Embedder, encoder: CountingEncoder, captions: list[str], args: argparse.Namespace
) -> dict[str, float]:
    feed = itertools.cycle(captions)
    done = 0
    stop_at = 0.0

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await embedder.embed_texts([next(feed)])
            done += 1

    embedder.start()
    try:
        stop_at = time.perf_counter() + 1.0  # warm-up
        await asyncio.gather(*(caller() for _ in range(args.concurrency)))
        encoder.padded = encoder.real = encoder.calls = done = 0
        started = time.perf_counter()
        stop_at = started + args.seconds
        await asyncio.gather(*(caller() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await embedder.stop()
    return {
        "items_s": done / elapsed,
        "pad_ratio": encoder.padded / max(encoder.real, 1),
        "rows_per_call": done / max(encoder.calls, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEMO)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    args = parser.parse_args()
    bundle = Bundle.load(args.bundle)
    encoder = CountingEncoder(OnnxRuntimeEncoder(bundle))
    captions = list(workload.captions(2000))
    modes = {"one padded batch": None, "length groups": GROUP_OVERHEAD_TOKENS}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
    print(f"load before: {os.getloadavg()}", flush=True)
    for round_ in range(args.rounds):
        order = list(modes) if round_ % 2 == 0 else list(modes)[::-1]
        for name in order:
            embedder = Embedder(
                bundle,
                encoder,  # type: ignore[arg-type]
                max_batch_size=args.max_batch_size,
                max_wait_ms=args.max_wait_ms,
                group_overhead_tokens=modes[name],
            )
            results[name].append(asyncio.run(measure(embedder, encoder, captions, args)))
            print(f"round {round_ + 1} {name}: {results[name][-1]}", flush=True)
    print(f"load after: {os.getloadavg()}")
    base = statistics.median(r["items_s"] for r in results["one padded batch"])
    paired = [
        g["items_s"] / b["items_s"]
        for g, b in zip(results["length groups"], results["one padded batch"], strict=True)
    ]
    print(f"\nconcurrency {args.concurrency}, {args.rounds} rounds x {args.seconds:g} s, medians")
    print("| text batches | items/s | range | × | padded ÷ real tokens | rows per engine call |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for name, rows in results.items():
        items = [r["items_s"] for r in rows]
        median = statistics.median(items)
        pad = statistics.median(r["pad_ratio"] for r in rows)
        per_call = statistics.median(r["rows_per_call"] for r in rows)
        print(
            f"| {name} | {median:.1f} | {min(items):.1f}–{max(items):.1f} | "
            f"{median / base:.2f} | {pad:.2f} | {per_call:.1f} |"
        )
    print(f"\nlength groups ÷ one padded batch, per round: {', '.join(f'{r:.2f}' for r in paired)}")
    print(f"median of the per-round ratios: {statistics.median(paired):.2f}")


if __name__ == "__main__":
    main()
