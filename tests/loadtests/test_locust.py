"""The Locust scenarios against a real service: a short, bounded headless run through
`loadtests/run_locust.py` must exercise every scenario with zero failures, and leave its CSVs and
plots behind."""

from __future__ import annotations

import base64
import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings
from tests.live_server import free_port, serve_in_thread

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
SCENARIOS = [
    "/search [text]",
    "/search [image]",
    "/embed [text]",
    "/embed [image]",
    "/images",
    "/classify",
]
API_KEY = "chiave-di-carico"


@pytest.fixture(scope="module")
def locust_installed() -> None:
    """Locust is a dev dependency: missing is a skip locally and a failure in CI."""
    if importlib.util.find_spec("locust") is None:
        message = "locust is not installed (pip install locust)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def load_workload() -> ModuleType:
    # `loadtests/` is not a package: load the file by path. Not the locustfile itself: importing
    # locust monkey-patches the standard library (gevent) inside the test process.
    spec = importlib.util.spec_from_file_location("sguardo_workload", LOADTESTS / "workload.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mix_parsing() -> None:
    workload = load_workload()
    mix = workload.parse_mix("search_text=1, index=0")
    assert mix["search_text"] == 1 and mix["index"] == 0 and mix["classify"] > 0
    for bad in ("serch_text=1", "index=-1", ",".join(f"{n}=0" for n in mix)):
        with pytest.raises(ValueError):
            workload.parse_mix(bad)


def test_short_run_has_no_failures(
    locust_installed: None, tiny_bundle_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    port = free_port()
    settings = Settings(
        bundle_path=tiny_bundle_dir,
        store_path=tmp_path / "store",
        demo_gallery=False,
        api_key=API_KEY,  # so the run proves that the key option reaches POST /images
        port=port,
    )
    out = tmp_path / "out"
    with serve_in_thread(create_app(settings), port=port) as url:
        # A few indexed photos, so that searches have something to find.
        photos = sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[:3]
        items = [{"image": base64.b64encode(p.read_bytes()).decode()} for p in photos]
        seeded = httpx.post(
            f"{url}/images", json={"images": items}, headers={"X-API-Key": API_KEY}, timeout=60
        )
        assert seeded.status_code == 200, seeded.text
        # A subprocess: Locust monkey-patches the standard library with gevent, which must not
        # happen inside the test process that also runs the server's thread.
        run = subprocess.run(
            [
                sys.executable,
                str(LOADTESTS / "run_locust.py"),
                "--host",
                url,
                "--users",
                "4",
                "--spawn-rate",
                "4",
                "--run-time",
                "12",
                "--api-key",
                API_KEY,
                "--out",
                str(out),
            ],
            env={**os.environ, "SGUARDO_DATA_DIR": str(shared_data)},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    with (out / "locust_stats.csv").open(newline="") as fh:
        stats = {row["Name"]: row for row in csv.DictReader(fh)}
    for name in SCENARIOS:
        assert int(stats[name]["Request Count"]) > 0, f"{name} never ran:\n{run.stdout}"
        assert int(stats[name]["Failure Count"]) == 0, (out / "locust_failures.csv").read_text()
    assert int(stats["Aggregated"]["Failure Count"]) == 0
    assert (out / "locust_stats_history.csv").stat().st_size > 0
    for png in ("throughput.png", "errors.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
