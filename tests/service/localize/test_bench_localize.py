"""`loadtests/bench_localize.py`: the pointing game runs end to end and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "loadtests" / "bench_localize.py"


def test_the_pointing_game_prints_ours_and_both_baselines(
    tiny_bundle_dir: Path, shared_data: Path
) -> None:
    args = ["--bundle", str(tiny_bundle_dir), "--data", str(shared_data), "--limit", "3"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *args, "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| method | all (" in out and "small (" in out and "large (" in out
    for method in ("(ours)", "image centre", "uniform random point"):
        assert method in out
    assert "ours / centre:" in out
    assert "3 photos:" in out and "crops per photo" in out
