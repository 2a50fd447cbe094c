"""The run's metrics reach a real Pushgateway (Debian's prometheus-pushgateway) under the
names and labels the README's metrics contract and the alert rules use."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sguardo.pipeline.pushgateway import last_success, push, record_success, run_metrics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("prometheus-pushgateway is not installed (make system-deps)")
        pytest.skip("prometheus-pushgateway is not installed")
    address = f"127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [binary, f"--web.listen-address={address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{address}/-/ready", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(10)


def scrape(address: str) -> dict[str, float]:
    text = httpx.get(f"http://{address}/metrics", trust_env=False).text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sguardo_retrain_")
    }


def test_a_rejected_night_then_a_failed_one(
    gateway: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    record_success(tmp_path, 1_700_000_000.0, "2026-11-28")
    push(
        gateway,
        run_metrics(
            ended=1_700_000_000.0,
            duration=1834.2,
            decision="rejected",
            success_timestamp=last_success(tmp_path),
            candidate={"t2i_recall_at_10": 0.4},
            current={"t2i_recall_at_10": 0.6},
        ),
    )
    seen = scrape(gateway)
    job = 'instance="",job="sguardo-nightly"'
    assert seen[f'sguardo_retrain_decision{{decision="rejected",{job}}}'] == 1
    assert seen[f'sguardo_retrain_decision{{decision="promoted",{job}}}'] == 0
    assert seen[f'sguardo_retrain_decision{{decision="failed",{job}}}'] == 0
    assert seen[f"sguardo_retrain_duration_seconds{{{job}}}"] == 1834.2
    assert seen[f"sguardo_retrain_last_success_timestamp_seconds{{{job}}}"] == 1.7e9
    metric = f'sguardo_retrain_metric{{{job},metric="t2i_recall_at_10",model="candidate"}}'
    assert seen[metric] == 0.4

    # A failed night replaces the group and pushes the previous success again.
    push(
        gateway,
        run_metrics(
            ended=1_700_086_400.0,
            duration=12.0,
            decision="failed",
            success_timestamp=last_success(tmp_path),
            candidate={},
            current={},
        ),
    )
    seen = scrape(gateway)
    assert seen[f'sguardo_retrain_decision{{decision="failed",{job}}}'] == 1
    assert seen[f"sguardo_retrain_last_success_timestamp_seconds{{{job}}}"] == 1.7e9
    assert seen[f"sguardo_retrain_last_run_timestamp_seconds{{{job}}}"] == 1_700_086_400.0
    assert not any(k.startswith("sguardo_retrain_metric") for k in seen)
