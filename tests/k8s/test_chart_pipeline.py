"""The CronJob's pipeline config is one the pipeline accepts, and the volumes it and the
service share (registry, originals) are mounted as the pipeline and the service expect."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sguardo.pipeline.config import load_config
from tests.k8s.conftest import CHART, Render, by_kind, run_helm

SHARED = (
    "--set",
    "bundle.persistence.accessModes[0]=ReadWriteMany",
    "--set",
    "originals.persistence.accessModes[0]=ReadWriteMany",
)


def pipeline_config(objects: list[dict], tmp_path: Path):
    (config_map,) = [c for c in by_kind(objects, "ConfigMap") if "config.yaml" in c["data"]]
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    return load_config(path), yaml.safe_load(path.read_text())


def test_direct_mode_reindexes_into_the_release_qdrant(render: Render, tmp_path: Path) -> None:
    objects = render(CHART / "ci" / "retraining-values.yaml")
    config, _ = pipeline_config(objects, tmp_path)
    assert config.registry == Path("/models")
    assert config.store.mode == "direct" and config.store.kind == "qdrant"
    assert config.store.url and "qdrant" in config.store.url
    assert config.store.originals == Path("/originals")
    (cron,) = by_kind(objects, "CronJob")
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [3]  # rejected
    pod = job["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["originals"]["mountPath"] == "/originals" and mounts["originals"]["readOnly"]
    claims = {
        v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]
    }
    assert claims["originals"] == "sguardo-originals"


def test_service_mode_works_with_the_embedded_store(render: Render, tmp_path: Path) -> None:
    objects = render(
        extra=("--set", "retraining.enabled=true", "--set", "retraining.storeMode=service", *SHARED)
    )
    config, _ = pipeline_config(objects, tmp_path)
    assert config.store.mode == "service"
    assert config.store.service_url == "http://sguardo:80"
    (cron,) = by_kind(objects, "CronJob")
    env = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    (token,) = [e for e in env if e["name"] == "SGUARDO_ADMIN_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"]["optional"] is False
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "originals" not in {v["name"] for v in pod["volumes"]}  # the service reads them


def test_the_service_keeps_originals_on_their_claim_and_knows_the_registry(
    render: Render,
) -> None:
    objects = render()
    (deployment,) = [d for d in by_kind(objects, "Deployment")]
    pod = deployment["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert not mounts["originals"].get("readOnly")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["originals"]["persistentVolumeClaim"]["claimName"] == "sguardo-originals"
    (settings,) = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"] == "sguardo"]
    assert settings["data"]["SGUARDO_ORIGINALS_PATH"] == mounts["originals"]["mountPath"]
    assert settings["data"]["SGUARDO_REGISTRY_PATH"] == "/models"
    claims = [p["metadata"]["name"] for p in by_kind(objects, "PersistentVolumeClaim")]
    assert "sguardo-originals" in claims


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            (
                "--set",
                "retraining.enabled=true",
                "--set",
                "qdrant.enabled=true",
                "--set",
                "bundle.persistence.accessModes[0]=ReadWriteMany",
            ),
            "add ReadWriteMany to originals.persistence.accessModes",
        ),
        (
            (
                "--set",
                "retraining.enabled=true",
                "--set",
                "retraining.storeMode=service",
                "--set",
                "originals.persistence.enabled=false",
                *SHARED,
            ),
            "set originals.persistence.enabled=true",
        ),
    ],
)
def test_refused(helm: str, chart: Path, extra: tuple[str, ...], message: str) -> None:
    completed = run_helm(helm, "template", "sguardo", str(chart), *extra, check=False)
    assert completed.returncode != 0, f"accepted: {extra}"
    assert message in completed.stderr, completed.stderr
