"""Throughput of POST /embed (one caption per request) and GET /healthz, measured with `wrk`.

A compiled load generator (Debian: `apt-get install wrk`) so that the client does not eat the CPU
it measures, as a Python client does on a 2-core machine. Starts the service (uvicorn on
127.0.0.1, a subprocess, default engine settings, demo gallery off, a throwaway store) on a
bundle, then runs every (endpoint, concurrency) cell once per round, rounds interleaved so that a
change in the machine's load hits every cell alike, and prints the medians over rounds with the
load average before and after.

    python loadtests/bench_wrk.py [--bundle DIR] [--rounds 3] [--duration 5] [--concurrency 1 16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload

SERVER = (
    "import uvicorn; from sguardo.service.app.main import create_app; "
    "uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
)
# wrk calls done() once, after the run, in the main thread's Lua state: one JSON line to parse.
DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%f,"p50_us":%f,"p99_us":%f,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass
class Cell:
    endpoint: str
    concurrency: int
    rps: list[float]
    p50_ms: list[float]
    p99_ms: list[float]
    errors: int = 0


class Measured(Protocol):
    rps: list[float]
    p50_ms: list[float]
    p99_ms: list[float]
    errors: int


def record(cell: Measured, result: dict[str, float]) -> None:
    """Add one wrk run (`run_wrk`'s result) to a cell's samples."""
    cell.rps.append(result["requests"] / result["seconds"])
    cell.p50_ms.append(result["p50_us"] / 1000)
    cell.p99_ms.append(result["p99_us"] / 1000)
    cell.errors += int(result["errors"] + result["non2xx"])


def lua_script(bodies: list[dict[str, object]]) -> str:
    """A wrk script that POSTs the JSON bodies in turn, ending with the one-line JSON summary.
    Bodies are ASCII JSON (\\u escapes), so the only Lua escapes needed are \\ and "."""
    quoted = []
    for body in bodies:
        text = json.dumps(body, ensure_ascii=True)
        quoted.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{{', '.join(quoted)}}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])\n"
        "end\n" + DONE
    )


def embed_script(captions: tuple[str, ...], count: int) -> str:
    """POST /embed with one caption per request, cycling through `count` of them."""
    return lua_script([{"texts": [caption]} for caption in captions[:count]])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(
    bundle: Path, store: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGUARDO_")}
    env.update(
        SGUARDO_BUNDLE_PATH=str(bundle),
        SGUARDO_STORE_PATH=str(store),
        SGUARDO_DEMO_GALLERY="false",
        SGUARDO_LOG_LEVEL="WARNING",
    )
    env.update(extra_env or {})
    process = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port)], env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, f"{url}/readyz", "the service", timeout_s=120, poll_s=0.3)
    return process, url


def wait_ready(
    process: subprocess.Popen[bytes],
    ready_url: str,
    what: str,
    *,
    timeout_s: float,
    poll_s: float,
) -> None:
    """Return once `ready_url` answers 200; exit if the process dies or misses the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited at start-up; see its log above")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    process.terminate()
    process.wait(30)
    raise SystemExit(f"{what} was not ready within {timeout_s:.0f} s")


def run_wrk(url: str, script: Path, concurrency: int, seconds: int) -> dict[str, float]:
    threads = min(concurrency, 2)  # one wrk thread per core at most: the service needs the rest
    command = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s"]
    command += ["--timeout", "10s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line.removeprefix("WRKJSON "))
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def bench(args: argparse.Namespace) -> tuple[list[Cell], tuple[float, ...], tuple[float, ...]]:
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {
            "POST /embed": Path(tmp) / "embed.lua",
            "GET /healthz": Path(tmp) / "healthz.lua",
        }
        scripts["POST /embed"].write_text(embed_script(workload.captions(), 1000))
        scripts["GET /healthz"].write_text(DONE)
        paths = {"POST /embed": "/embed", "GET /healthz": "/healthz"}
        cells = [Cell(endpoint, c, [], [], []) for endpoint in scripts for c in args.concurrency]
        process, url = start_service(args.bundle, Path(tmp) / "store")
        try:
            for cell in cells:  # warm-up: first inferences, connection set-up
                run_wrk(url + paths[cell.endpoint], scripts[cell.endpoint], cell.concurrency, 2)
            load_before = os.getloadavg()
            for number in range(args.rounds):
                for cell in cells:
                    result = run_wrk(
                        url + paths[cell.endpoint],
                        scripts[cell.endpoint],
                        cell.concurrency,
                        args.duration,
                    )
                    record(cell, result)
                    print(
                        f"round {number + 1}: {cell.endpoint} c={cell.concurrency}: "
                        f"{cell.rps[-1]:.1f} req/s, p50 {cell.p50_ms[-1]:.1f} ms, "
                        f"p99 {cell.p99_ms[-1]:.1f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
            load_after = os.getloadavg()
        finally:
            process.terminate()
            process.wait(30)
    return cells, load_before, load_after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="default: the demo bundle")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per cell per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    if not 1 <= args.rounds <= 20 or not 1 <= args.duration <= 120:
        parser.error("--rounds must be 1-20 and --duration 1-120 s")
    if args.bundle is None:
        from sguardo.bundle import paths

        args.bundle = paths.demo_bundle_dir()
    if not (args.bundle / "bundle.json").is_file():
        parser.error(f"no bundle at {args.bundle} (sguardo export writes the demo one)")
    cells, before, after = bench(args)
    print(
        f"\nwrk, {args.rounds} interleaved rounds of {args.duration} s per cell, medians; bundle "
        f"{args.bundle.name}; {os.cpu_count()} CPUs; load average (1/5/15 min) before "
        f"{before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f}, after "
        f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f}\n"
    )
    print("| endpoint | concurrency | req/s | p50 ms | p99 ms | req/s range | errors |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for c in cells:
        print(
            f"| {c.endpoint} | {c.concurrency} | {statistics.median(c.rps):,.0f} | "
            f"{statistics.median(c.p50_ms):.1f} | {statistics.median(c.p99_ms):.1f} | "
            f"{min(c.rps):,.0f}–{max(c.rps):,.0f} | {c.errors} |"
        )


if __name__ == "__main__":
    main()
