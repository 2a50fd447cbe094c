"""The settings sweep (issue 13, Speed item 4): one factor at a time around the defaults, a real
service per configuration, measured with wrk."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
sys.path.insert(0, str(LOADTESTS))

import sweep_settings  # noqa: E402
from sweep_settings import Config, configurations  # noqa: E402


def test_one_factor_at_a_time_around_the_base() -> None:
    found = configurations([0, 1, 2], [32, 1, 64], [5.0, 0.0])
    assert found[0] == Config(0, 32, 5.0)
    assert len(found) == 1 + 2 + 2 + 1
    assert Config(1, 32, 5.0) in found and Config(0, 64, 5.0) in found
    assert Config(0, 32, 0.0) in found and Config(1, 64, 5.0) not in found
    assert configurations([0, 0], [32], [5.0]) == [Config(0, 32, 5.0)]  # no duplicates
    assert Config(2, 8, 1.5).env() == {
        "SGUARDO_INTRA_OP_THREADS": "2",
        "SGUARDO_MAX_BATCH_SIZE": "8",
        "SGUARDO_MAX_WAIT_MS": "1.5",
    }


def test_a_short_sweep_against_real_services(tiny_bundle_dir: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    args = argparse.Namespace(
        bundle=tiny_bundle_dir, rounds=1, duration=1, concurrency=[2], kind="text"
    )
    configs = configurations([1], [8, 1], [2.0])
    cells, *_ = sweep_settings.sweep(args, configs)
    assert [c.config for c in cells] == configs
    for cell in cells:
        assert len(cell.rps) == 1 and cell.rps[0] > 0 and cell.errors == 0


def test_the_command_prints_its_table(tiny_bundle_dir: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    done = subprocess.run(
        [
            sys.executable,
            str(LOADTESTS / "sweep_settings.py"),
            "--bundle",
            str(tiny_bundle_dir),
            "--rounds",
            "1",
            "--duration",
            "1",
            "--concurrency",
            "2",
            "--threads",
            "1",
            "--max-batch-size",
            "8",
            "--max-wait-ms",
            "2",
            "--kind",
            "image",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| 1 | 8 | 2 | 2 |" in done.stdout
