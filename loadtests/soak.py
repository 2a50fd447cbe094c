"""Soak test: minutes at saturation, reporting the 503 share, latency and the server's RSS over
time. Not in CI (it is long by design); bounded by --minutes and --concurrency.

Starts the service (uvicorn in a subprocess, as `sguardo serve` runs it) on a bundle with the
demo gallery off, then keeps `--concurrency` clients busy with a mix of one-text /embed,
one-photo /embed, text /search and POST /images of a photo (with fresh bytes, so it is really
indexed). Every `--every` seconds it prints one row; at the end a summary. A 5xx other than
503, or a connection error, counts as an error: the run is meant to show none.

    python loadtests/soak.py [--bundle DIR] [--minutes 10] [--concurrency 64] [--every 30]
                             [--max-queue 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from sguardo.bundle import paths

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERVER = (
    "from sguardo.service.app.main import create_app; from sguardo.service.cli.serve import "
    "serve_app; from sguardo.service.core.settings import Settings; s = Settings(); "
    "serve_app(create_app(s), s)"
)
TEXTS = ["un gatto sul divano", "due cani sulla neve", "una tazza di caffè", "il treno"]


@dataclass
class Window:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # client-side errors, by type


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def photos(count: int) -> list[bytes]:
    files = sorted((DATA / "imagenet-sample-it" / "images").glob("*.jpg"))[:count]
    if not files:
        raise SystemExit(f"no photos under {DATA}")
    return [f.read_bytes() for f in files]


async def client_loop(
    http: httpx.AsyncClient, images: list[bytes], window: list[Window], until: float, seed: int
) -> None:
    rng = random.Random(seed)
    serial = 0
    while time.monotonic() < until:
        kind = rng.random()
        photo = rng.choice(images)
        if kind < 0.4:
            request = http.post("/embed", json={"texts": [rng.choice(TEXTS)]})
        elif kind < 0.7:
            request = http.post("/embed", json={"images": [base64.b64encode(photo).decode()]})
        elif kind < 0.9:
            request = http.post("/search", json={"text": rng.choice(TEXTS), "top_k": 5})
        else:
            serial += 1
            fresh = photo + f"{seed}-{serial}".encode()  # bytes after EOI: a new image id
            item = {"image": base64.b64encode(fresh).decode(), "metadata": {"soak": True}}
            request = http.post("/images", json={"images": [item]})
        started = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            window[0].errors += 1
            window[0].kinds[type(exc).__name__] += 1
            continue
        window[0].latencies.append(time.perf_counter() - started)
        window[0].statuses[response.status_code] += 1
        if response.status_code == 503:  # back off as the server asks, like a good client
            await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 2.0))


def summarise(window: Window) -> tuple[int, float, float, float, int]:
    total = sum(window.statuses.values())
    share = window.statuses[503] / total if total else 0.0
    lat = np.asarray(window.latencies) * 1000 if window.latencies else np.zeros(1)
    bad = window.errors + sum(n for s, n in window.statuses.items() if s >= 500 and s != 503)
    return total, share, float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), bad


async def soak(url: str, pid: int, minutes: float, concurrency: int, every: float) -> int:
    images = photos(16)
    until = time.monotonic() + minutes * 60
    window = [Window()]
    everything = Window()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    print(
        f"{'t (s)':>6} {'requests':>9} {'req/s':>7} {'503 %':>6} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'RSS MB':>7}"
    )
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        clients = [
            asyncio.create_task(client_loop(http, images, window, until, seed))
            for seed in range(concurrency)
        ]
        last, next_row = started, started + every
        while not all(c.done() for c in clients):
            await asyncio.sleep(0.2)
            if time.monotonic() < next_row and not all(c.done() for c in clients):
                continue
            next_row = time.monotonic() + every
            current, window[0] = window[0], Window()
            everything.statuses.update(current.statuses)
            everything.latencies += current.latencies
            everything.errors += current.errors
            everything.kinds.update(current.kinds)
            total, share, p50, p99, bad = summarise(current)
            now = time.monotonic()
            elapsed, seconds, last = now - started, now - last, now
            print(
                f"{elapsed:6.0f} {total:9d} {total / seconds:7.1f} {100 * share:6.1f} "
                f"{p50:8.0f} {p99:8.0f} {bad:6d} {rss_mb(pid):7.0f}",
                flush=True,
            )
        await asyncio.gather(*clients)
    total, share, p50, p99, bad = summarise(everything)
    print(
        f"\nall: {total} requests, {total / (minutes * 60):.1f} req/s, 503 {100 * share:.1f}%, "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, errors {bad}, statuses "
        f"{dict(sorted(everything.statuses.items()))}, client errors {dict(everything.kinds)}, "
        f"final RSS {rss_mb(pid):.0f} MB"
    )
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=paths.demo_bundle_dir())
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--every", type=float, default=30.0, help="seconds per report row")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--max-queue", type=int, default=32, help="SGUARDO_MAX_QUEUE: small, to see 503s"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SGUARDO_")}
        env.update(
            SGUARDO_BUNDLE_PATH=str(args.bundle),
            SGUARDO_STORE_PATH=str(Path(tmp) / "store"),
            SGUARDO_DEMO_GALLERY="false",
            SGUARDO_PORT=str(args.port),
            SGUARDO_LOG_LEVEL="WARNING",
            SGUARDO_INTRA_OP_THREADS="1",
            SGUARDO_MAX_QUEUE=str(args.max_queue),
        )
        server = subprocess.Popen([sys.executable, "-c", SERVER], env=env)
        url = f"http://127.0.0.1:{args.port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the service did not start")
                time.sleep(0.5)
            print(
                f"service pid {server.pid}, RSS at start {rss_mb(server.pid):.0f} MB; "
                f"{args.concurrency} clients for {args.minutes} min"
            )
            code = asyncio.run(soak(url, server.pid, args.minutes, args.concurrency, args.every))
        finally:
            server.terminate()
            server.wait(30)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
