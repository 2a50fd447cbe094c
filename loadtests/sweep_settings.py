"""Sweep the engine settings (ONNX Runtime threads, max_batch_size, max_wait_ms) against a real
service, measured with `wrk`: the table the defaults are chosen from.

One factor at a time around the base (today's defaults): every other value of one setting with
the other two at their base values. One service per configuration (uvicorn on 127.0.0.1, a
subprocess, the bundle loaded once each, all started before measuring, so idle ones only hold
memory: ≈ 1 GB each for the demo bundle); then rounds in which every (configuration,
concurrency) cell runs once, the order reversed every other round, so a change in the machine's
load hits every cell alike. Medians over rounds. Workload: one MSCOCO-IT caption per
`POST /embed`, cycling through 1,000 (`--kind image`: one coco128 photo per request).

    python loadtests/sweep_settings.py [--bundle DIR] [--rounds 3] [--duration 5]
        [--concurrency 1 16] [--threads 0 1 2] [--max-batch-size 32 1 8 64]
        [--max-wait-ms 5 0 2 10]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from bench_wrk import embed_script, lua_script, record, run_wrk, start_service


@dataclass(frozen=True)
class Config:
    threads: int
    max_batch_size: int
    max_wait_ms: float

    def env(self) -> dict[str, str]:
        return {
            "SGUARDO_INTRA_OP_THREADS": str(self.threads),
            "SGUARDO_MAX_BATCH_SIZE": str(self.max_batch_size),
            "SGUARDO_MAX_WAIT_MS": str(self.max_wait_ms),
        }

    def label(self) -> str:
        threads = "auto" if self.threads == 0 else str(self.threads)
        return f"threads {threads}, batch {self.max_batch_size}, wait {self.max_wait_ms:g} ms"


@dataclass
class Cell:
    config: Config
    concurrency: int
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0


def configurations(threads: list[int], batch: list[int], wait: list[float]) -> list[Config]:
    """The base (first value of each) and every single-setting departure from it."""
    base = Config(threads[0], batch[0], wait[0])
    found = [base]
    found += [Config(t, base.max_batch_size, base.max_wait_ms) for t in threads[1:]]
    found += [Config(base.threads, b, base.max_wait_ms) for b in batch[1:]]
    found += [Config(base.threads, base.max_batch_size, w) for w in wait[1:]]
    return list(dict.fromkeys(found))


def image_script(photos: tuple[bytes, ...]) -> str:
    """POST /embed with one photo per request, cycling through them."""
    return lua_script([{"images": [base64.b64encode(photo).decode()]} for photo in photos])


def sweep(args: argparse.Namespace, configs: list[Config]) -> tuple[list[Cell], tuple, tuple]:
    cells = [Cell(config, c) for config in configs for c in args.concurrency]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        if args.kind == "text":
            script.write_text(embed_script(workload.captions(), 1000))
        else:
            script.write_text(image_script(workload.photos(16)))
        services = {}
        try:
            for i, config in enumerate(configs):
                print(f"starting {config.label()}", file=sys.stderr, flush=True)
                services[config] = start_service(args.bundle, Path(tmp) / f"store{i}", config.env())
            for cell in cells:  # warm-up: first inferences, connection set-up
                run_wrk(services[cell.config][1] + "/embed", script, cell.concurrency, 2)
            before = os.getloadavg()
            for number in range(args.rounds):
                for cell in cells if number % 2 == 0 else cells[::-1]:
                    url = services[cell.config][1] + "/embed"
                    record(cell, run_wrk(url, script, cell.concurrency, args.duration))
                    print(
                        f"round {number + 1}: {cell.config.label()}, c={cell.concurrency}: "
                        f"{cell.rps[-1]:.1f} req/s",
                        file=sys.stderr,
                        flush=True,
                    )
            after = os.getloadavg()
        finally:
            for process, _ in services.values():
                process.terminate()
            for process, _ in services.values():
                process.wait(30)
    return cells, before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="default: the demo bundle")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per cell per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--kind", choices=["text", "image"], default="text")
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-batch-size", type=int, nargs="+", default=[32, 1, 8, 64])
    parser.add_argument("--max-wait-ms", type=float, nargs="+", default=[5.0, 0.0, 2.0, 10.0])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    if args.bundle is None:
        from sguardo.bundle import paths

        args.bundle = paths.demo_bundle_dir()
    if not (args.bundle / "bundle.json").is_file():
        parser.error(f"no bundle at {args.bundle} (sguardo export writes the demo one)")
    configs = configurations(args.threads, args.max_batch_size, args.max_wait_ms)
    cells, before, after = sweep(args, configs)
    print(
        f"\n`POST /embed` (one {args.kind} a request), wrk, {args.rounds} interleaved rounds of "
        f"{args.duration} s per cell, medians; bundle {args.bundle.name}; {os.cpu_count()} CPUs; "
        f"load average (1/5/15 min) before {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f}, "
        f"after {after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f}\n"
    )
    base = {c.concurrency: statistics.median(c.rps) for c in cells if c.config == configs[0]}
    print(
        "| threads | max batch | max wait ms | concurrency | req/s | × base | p50 ms | p99 ms "
        "| req/s range | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for c in cells:
        rps = statistics.median(c.rps)
        threads = "auto" if c.config.threads == 0 else c.config.threads
        print(
            f"| {threads} | {c.config.max_batch_size} | {c.config.max_wait_ms:g} | "
            f"{c.concurrency} | {rps:,.1f} | {rps / base[c.concurrency]:.2f} | "
            f"{statistics.median(c.p50_ms):.1f} | {statistics.median(c.p99_ms):.1f} | "
            f"{min(c.rps):,.1f}–{max(c.rps):,.1f} | {c.errors} |"
        )


if __name__ == "__main__":
    main()
