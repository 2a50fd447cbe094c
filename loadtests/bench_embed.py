"""Benchmark POST /embed: text and image requests/s and latency, batching on vs off.

Starts the service (uvicorn on 127.0.0.1, a subprocess, so the load generator does not share
its interpreter) on a bundle, fires a bounded number of one-item requests at concurrency 1 and
32, and prints a table. Texts are real MSCOCO-IT captions, images real photos (uploads).

    python loadtests/bench_embed.py [--bundle DIR] [--requests 256] [--max-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

from sguardo.bundle import paths

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERVER = (
    "import uvicorn; from sguardo.service.app.main import create_app; "
    "uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
)


@dataclass
class Result:
    batching: str
    kind: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    mean_batch: float  # rows per inference call, from the service's own metrics


def load_captions(data: Path, count: int) -> list[str]:
    files = sorted((data / "mscoco-it").glob("*.json.gz"))
    with gzip.open(files[0]) as fh:
        captions = [a["caption"] for a in json.load(fh)["annotations"]]
    random.Random(0).shuffle(captions)
    return captions[:count]


def load_photos(data: Path, count: int) -> list[bytes]:
    found = sorted((data / "imagenet-sample-it" / "images").glob("*.jpg"))
    found += sorted((data / "coco128" / "images").glob("*/*.jpg"))
    random.Random(0).shuffle(found)
    return [p.read_bytes() for p in found[:count]]


def batch_counters(url: str, tower: str) -> tuple[float, float]:
    """(rows, inference calls) so far for a tower, read from /metrics."""
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        for stat in ("sum", "count"):
            if line.startswith(f'sguardo_batch_size_{stat}{{tower="{tower}"}}'):
                values[stat] = float(line.split()[-1])
    return values.get("sum", 0.0), values.get("count", 0.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(bundle: Path, store: Path, batch_size: int, args: argparse.Namespace):
    port = free_port()
    env = {
        **os.environ,
        "SGUARDO_BUNDLE_PATH": str(bundle),
        "SGUARDO_STORE_PATH": str(store),
        "SGUARDO_MAX_BATCH_SIZE": str(batch_size),
        "SGUARDO_MAX_WAIT_MS": str(args.max_wait_ms),
        "SGUARDO_INTRA_OP_THREADS": str(args.threads),
        "SGUARDO_INTRA_OP_SPINNING": str(args.spinning).lower(),
        "SGUARDO_LIMITS__MAX_ITEMS_PER_REQUEST": "64",
        "SGUARDO_LOG_LEVEL": "WARNING",
        "SGUARDO_DEMO_GALLERY": "false",  # embedding only: no gallery to seed
    }
    process = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
        if process.poll() is not None:
            raise SystemExit("the service did not start; see its log above")
    process.terminate()
    raise SystemExit("the service did not answer /healthz within 120 s")


async def run_load(
    url: str, kind: str, payloads: list, concurrency: int, total: int, max_seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    started = time.perf_counter()
    # Keep every connection alive: reconnecting would be measured as service latency.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def worker() -> None:
            nonlocal sent, errors
            while sent < total and time.perf_counter() - started < max_seconds:
                item = payloads[sent % len(payloads)]
                sent += 1
                t0 = time.perf_counter()
                if kind == "text":
                    response = await http.post("/embed", json={"texts": [item]})
                else:
                    files = [("images", ("photo.jpg", item, "image/jpeg"))]
                    response = await http.post("/embed", files=files)
                latencies.append(time.perf_counter() - t0)
                errors += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def bench(args: argparse.Namespace) -> list[Result]:
    """Both services run side by side and take turns in short rounds, so that a change in the
    machine's load during the run (shared CPUs) hits batching on and off alike."""
    captions = load_captions(args.data, 512)
    photos = load_photos(args.data, 128)
    modes = {"on": args.batch_size, "off": 1}
    results = []
    with tempfile.TemporaryDirectory() as stores:
        servers = {
            label: start_server(args.bundle, Path(stores) / label, size, args)
            for label, size in modes.items()
        }
        try:
            for kind, payloads in (("text", captions), ("image", photos)):
                tower = "text" if kind == "text" else "vision"
                for _, url in servers.values():
                    asyncio.run(run_load(url, kind, payloads, 4, 16, 30))  # warm-up
                for concurrency in args.concurrency:
                    per_round = max(args.requests // args.rounds, concurrency)
                    budget = args.max_seconds / args.rounds
                    runs: dict[str, list] = {label: [[], 0, 0.0, 0.0, 0.0] for label in modes}
                    for _ in range(args.rounds):
                        for label, (_, url) in servers.items():
                            rows0, calls0 = batch_counters(url, tower)
                            latencies, errors, seconds = asyncio.run(
                                run_load(url, kind, payloads, concurrency, per_round, budget)
                            )
                            rows1, calls1 = batch_counters(url, tower)
                            run = runs[label]
                            run[0] += latencies
                            run[1] += errors
                            run[2] += seconds
                            run[3] += rows1 - rows0
                            run[4] += calls1 - calls0
                    for label, (latencies, errors, seconds, rows, calls) in runs.items():
                        ms = np.asarray(latencies) * 1000
                        result = Result(
                            label,
                            kind,
                            concurrency,
                            len(latencies),
                            errors,
                            round(seconds, 2),
                            round(len(latencies) / seconds, 1),
                            round(float(np.percentile(ms, 50)), 1),
                            round(float(np.percentile(ms, 99)), 1),
                            round(rows / max(calls, 1), 1),
                        )
                        print(result, file=sys.stderr, flush=True)
                        results.append(result)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(30)
    return results


def print_table(results: list[Result], bundle: Path) -> None:
    print(f"\nPOST /embed, one item per request, bundle {bundle}")
    print(
        "| batching | kind  | concurrency | requests | errors | req/s  | p50 ms | p99 ms | batch |"
    )
    print(
        "|----------|-------|-------------|----------|--------|--------|--------|--------|-------|"
    )
    for r in sorted(results, key=lambda r: (r.kind != "text", r.concurrency, r.batching)):
        print(
            f"| {r.batching:<8} | {r.kind:<5} | {r.concurrency:>11} | {r.requests:>8} | "
            f"{r.errors:>6} | {r.rps:>6} | {r.p50_ms:>6} | {r.p99_ms:>6} | {r.mean_batch:>5} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--requests", type=int, default=256, help="per scenario, at most")
    parser.add_argument("--max-seconds", type=float, default=30, help="per scenario, at most")
    parser.add_argument("--rounds", type=int, default=4, help="on/off turns per scenario")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--batch-size", type=int, default=32, help="when batching is on")
    parser.add_argument("--max-wait-ms", type=float, default=5)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    parser.add_argument("--spinning", action="store_true", help="ONNX Runtime threads spin")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    if args.bundle is None:
        demo = paths.demo_bundle_dir()
        if not (demo / "bundle.json").is_file():
            parser.error(f"no demo bundle at {demo}; pass --bundle DIR")
        args.bundle = demo
    results = bench(args)
    print_table(results, args.bundle)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
