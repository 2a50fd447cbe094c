"""Run the Locust scenarios headless, bounded, and draw what happened.

    python loadtests/run_locust.py --host http://127.0.0.1:8000 --users 8 --spawn-rate 2 \\
        --run-time 60 [--rps 20] [--mix search_text=6,index=0] [--api-key KEY] [--out DIR]

Writes Locust's CSVs (`locust_stats.csv`, `locust_stats_history.csv`, `locust_failures.csv`,
`locust_exceptions.csv`) into --out, then three PNGs from the history: `throughput.png`
(requests/s, all and per scenario), `errors.png` (failed share of requests) and `latency.png`
(p50/p95/p99 of the last seconds' requests). Exits with Locust's status: 1 if any request failed.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFIX = "locust"
AGGREGATED = "Aggregated"


def run_locust(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.mix is not None:
        env["SGUARDO_LOCUST_MIX"] = args.mix
    if args.api_key:
        env["SGUARDO_LOCUST_API_KEY"] = args.api_key
    if args.rps:
        # Locust caps per user (constant_throughput); the total spreads over the users.
        env["SGUARDO_LOCUST_RPS"] = str(args.rps / args.users)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(args.locustfile),
        "--headless",
        "--host",
        args.host,
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        f"{args.run_time}s",
        "--stop-timeout",
        "10",  # users finish their request in flight, bounded
        "--csv",
        str(args.out / PREFIX),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    # Locust stops itself at --run-time; the timeout is a backstop for a hung run.
    return subprocess.run(command, env=env, timeout=args.run_time + 120, check=False).returncode


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "N/A" before the first response
        return math.nan


def read_history(path: Path) -> dict[str, dict[str, list[float]]]:
    """Per request name (and "Aggregated"): columns of the history, time in seconds from start."""
    series: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    start = min(float(r["Timestamp"]) for r in rows)
    for row in rows:
        columns = series[row["Name"]]
        columns["t"].append(float(row["Timestamp"]) - start)
        for key in (
            "Requests/s",
            "Failures/s",
            "50%",
            "95%",
            "99%",
            "User Count",
            "Total Request Count",
            "Total Failure Count",
        ):
            columns[key].append(_number(row[key]))
    return series


def plot(history: Path, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    series = read_history(history)
    if AGGREGATED not in series:
        raise SystemExit(f"no aggregated rows in {history}: did any request run?")
    total = series[AGGREGATED]
    written = []

    fig, ax = plt.subplots(figsize=(10, 5))
    ax.plot(total["t"], total["Requests/s"], label="all", color="black", linewidth=2)
    for name, columns in sorted(series.items()):
        if name != AGGREGATED:
            ax.plot(columns["t"], columns["Requests/s"], label=name, linewidth=1)
    users = ax.twinx()
    users.plot(total["t"], total["User Count"], color="grey", linestyle=":", label="users")
    users.set_ylabel("users (dotted)")
    users.set_ylim(bottom=0)
    ax.set(title="Throughput", xlabel="seconds since start", ylabel="requests/s")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    written.append(_save(fig, out / "throughput.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    share = [
        100 * f / r if r and not math.isnan(r) else 0.0
        for f, r in zip(total["Failures/s"], total["Requests/s"], strict=True)
    ]
    ax.plot(total["t"], share, color="crimson", linewidth=2)
    failed, sent = total["Total Failure Count"][-1], total["Total Request Count"][-1]
    ax.set(
        title=f"Failed requests: {failed:.0f} of {sent:.0f} in all",
        xlabel="seconds since start",
        ylabel="% of requests per second",
    )
    # Below 0 too, so that a run without failures shows its line instead of hiding it in the axis.
    ax.set_ylim(-0.25, max(5.0, *share) * 1.1)
    written.append(_save(fig, out / "errors.png"))

    fig, ax = plt.subplots(figsize=(10, 5))
    for key, colour in (("50%", "tab:green"), ("95%", "tab:orange"), ("99%", "tab:red")):
        ax.plot(total["t"], total[key], label=f"p{key[:-1]}", color=colour)
    ax.set(
        title="Latency, all requests (recent window)",
        xlabel="seconds since start",
        ylabel="ms",
    )
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    written.append(_save(fig, out / "latency.png"))
    return written


def _save(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    fig.clear()
    return path


def summary(stats: Path) -> str:
    """Locust's table from its CSV, the lines a person reads first. Locust rewrites the CSV each
    second, so the last second's requests may be missing; the exit status covers every one."""
    lines = [f"{'name':<18} {'requests':>9} {'failures':>9} {'req/s':>7} {'p50':>6} {'p99':>6}"]
    with stats.open(newline="") as fh:
        for row in csv.DictReader(fh):
            lines.append(
                f"{row['Name']:<18} {row['Request Count']:>9} {row['Failure Count']:>9} "
                f"{float(row['Requests/s']):>7.1f} {row['50%']:>6} {row['99%']:>6}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--spawn-rate", type=float, default=2.0, help="users started per second")
    parser.add_argument("--run-time", type=int, default=60, help="seconds")
    parser.add_argument("--rps", type=float, default=None, help="cap on total requests/s")
    parser.add_argument("--mix", default=None, help="e.g. search_text=6,embed_image=0")
    parser.add_argument("--api-key", default=None, help="X-API-Key for POST /images")
    parser.add_argument("--out", type=Path, default=Path("locust-out"))
    parser.add_argument("--locustfile", type=Path, default=HERE / "locustfile.py")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 1000 or not 1 <= args.run_time <= 24 * 3600:
        parser.error("--users must be 1-1000 and --run-time 1-86400 s")
    if args.mix is not None:
        sys.path.insert(0, str(HERE))
        import workload  # a bad --mix fails here, before Locust starts

        try:
            workload.parse_mix(args.mix)
        except ValueError as exc:
            parser.error(f"--mix: {exc}")
    args.out.mkdir(parents=True, exist_ok=True)
    code = run_locust(args)
    stats = args.out / f"{PREFIX}_stats.csv"
    if not stats.is_file():
        print(f"Locust wrote no stats (exit {code})", file=sys.stderr)
        return code or 2
    print(summary(stats))
    for path in plot(args.out / f"{PREFIX}_stats_history.csv", args.out):
        print(f"wrote {path}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
