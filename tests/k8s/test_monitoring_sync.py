"""The chart ships deploy/monitoring's rules and dashboards unchanged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import Render, by_kind, missing
from .sync_monitoring import SYNCED


@pytest.mark.parametrize(("source", "pattern", "target"), SYNCED, ids=["rules", "dashboards"])
def test_chart_copies_equal_deploy_monitoring(source: Path, pattern: str, target: Path) -> None:
    originals = {p.name: p.read_bytes() for p in source.glob(pattern)}
    copies = {p.name: p.read_bytes() for p in target.glob(pattern)}
    assert originals, f"nothing matches {pattern} in {source}"
    assert copies == originals, "run: .venv/bin/python tests/k8s/sync_monitoring.py"


def test_prometheus_rule_carries_every_group_verbatim(render: Render) -> None:
    (rule,) = by_kind(render(), "PrometheusRule")
    expected = []
    for path in sorted(SYNCED[0][0].glob(SYNCED[0][1])):
        expected += yaml.safe_load(path.read_text())["groups"]
    assert sorted(rule["spec"]["groups"], key=lambda g: g["name"]) == sorted(
        expected, key=lambda g: g["name"]
    )


def test_prometheus_rule_passes_promtool(render: Render, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool not installed: apt-get install prometheus")
    (rule,) = by_kind(render(), "PrometheusRule")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    completed = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dashboard_configmaps_hold_the_dashboards(render: Render) -> None:
    dashboards = {
        key: value
        for c in by_kind(render(), "ConfigMap")
        if c["metadata"]["labels"].get("grafana_dashboard") == "1"
        for key, value in c["data"].items()
    }
    source = SYNCED[1][0]
    assert dashboards == {p.name: p.read_text().rstrip("\n") for p in source.glob("*.json")}
