"""The laptop compose file: its references resolve, its images are pinned, it exposes nothing
beyond 127.0.0.1, and its Prometheus configuration (with deploy/monitoring's rules) passes
`promtool check config`. Compose itself is not run here (no image registry to pull from)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_DIR = REPO_ROOT / "deploy" / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())


def test_services() -> None:
    assert set(COMPOSE["services"]) == {"sguardo", "qdrant", "prometheus", "grafana"}
    service = COMPOSE["services"]["sguardo"]
    assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile.serve"
    assert (COMPOSE_DIR / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert service["read_only"] is True and service["user"] == "10001:10001"
    assert service["environment"]["SGUARDO_QDRANT_URL"] == "http://qdrant:6333"


def test_images_are_pinned_and_ports_local() -> None:
    for name, service in COMPOSE["services"].items():
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_bind_mounts_exist() -> None:
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source}"


def test_prometheus_config_and_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool not installed: apt-get install prometheus"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Laid out as the compose mounts place them in the container.
    config = tmp_path / "prometheus.yml"
    shutil.copyfile(COMPOSE_DIR / "prometheus.yml", config)
    shutil.copytree(
        REPO_ROOT / "deploy" / "monitoring" / "prometheus" / "rules", tmp_path / "rules"
    )
    completed = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "SUCCESS: 2 rules found" in output or "rules found" in output, output


def test_grafana_provisions_the_dashboard() -> None:
    volumes = COMPOSE["services"]["grafana"]["volumes"]
    provider = yaml.safe_load(
        (REPO_ROOT / "deploy/monitoring/grafana/provisioning/dashboards/sguardo.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert any(v.endswith(f"{path}/sguardo.json:ro") for v in volumes)
    datasource = yaml.safe_load((COMPOSE_DIR / "grafana" / "datasources.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
