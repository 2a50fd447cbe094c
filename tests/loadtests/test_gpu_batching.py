"""`loadtests/gpu_batching.py` runs on CPU with tiny towers until a device is lent (issue 13, GPU):
both towers, batching on and off, a row per (tower, dtype, concurrency)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "loadtests" / "gpu_batching.py"


def test_the_smoke_run_prints_every_row() -> None:
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--seconds", "0.3"]
    command += ["--concurrency", "1", "8", "--tower", "vision", "text", "--dtype", "fp32", "bf16"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| vision |")]
    rows += [line for line in done.stdout.splitlines() if line.startswith("| text |")]
    assert len(rows) == 2 * 2 * 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        off, on = float(cells[3].replace(",", "")), float(cells[4].replace(",", ""))
        assert off > 0 and on > 0
