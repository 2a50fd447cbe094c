"""`helm lint --strict`, then every rendered object against the Kubernetes API schemas
(`kubernetes-validate --strict`, 1.29 and 1.33) and the Prometheus Operator's CRD schemas."""

from __future__ import annotations

import copy
import json
import subprocess
import tarfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from .conftest import CHART, CI_VALUES, REPO_ROOT, SHARED_K8S, Render, by_kind, run_helm, tool

CASES = [pytest.param((), id="defaults")] + [
    pytest.param((path,), id=path.stem) for path in CI_VALUES
]
KUBERNETES_VERSIONS = ["1.29.0", "1.33.0"]
CRD_SCHEMAS = {
    "ServiceMonitor": "servicemonitor_v1.json",
    "PodMonitor": "podmonitor_v1.json",
    "PrometheusRule": "prometheusrule_v1.json",
}


def test_ci_values_cover_the_issue_cases() -> None:
    assert {p.stem for p in CI_VALUES} >= {
        "cpu-values",
        "gpu-triton-values",
        "external-qdrant-ha-values",
        "retraining-values",
    }


@pytest.mark.parametrize("values", CASES)
def test_helm_lint_strict(helm: str, chart: Path, values: tuple[Path, ...]) -> None:
    args = ["lint", "--strict", str(chart)]
    for path in values:
        args += ["-f", str(path)]
    completed = run_helm(helm, *args, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("values", CASES)
def test_rendered_objects_are_valid_kubernetes(
    render: Render, values: tuple[Path, ...], tmp_path: Path
) -> None:
    objects = [o for o in render(*values) if o["kind"] not in CRD_SCHEMAS]
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    validate = tool("kubernetes-validate")
    for version in KUBERNETES_VERSIONS:
        completed = subprocess.run(
            [validate, "--strict", "--quiet", "-k", version, str(manifest)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        # --quiet prints only failures and warnings; a built-in kind without a schema warns.
        assert completed.returncode == 0 and not completed.stdout.strip(), (
            f"Kubernetes {version}:\n{completed.stdout}{completed.stderr}"
        )


def strict(schema: dict) -> dict:
    """The CRD schema with unknown fields refused wherever it lists the known ones (as the API
    server's structural-schema pruning would drop them silently, which hides typos)."""
    schema = copy.deepcopy(schema)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@pytest.mark.parametrize("values", CASES)
def test_custom_resources_match_the_operator_schemas(
    render: Render, values: tuple[Path, ...]
) -> None:
    objects = render(*values)
    custom = [o for o in objects if o["kind"] in CRD_SCHEMAS]
    assert {o["kind"] for o in custom} >= {"ServiceMonitor", "PrometheusRule"}
    for obj in custom:
        path = SHARED_K8S / "crd-schemas" / CRD_SCHEMAS[obj["kind"]]
        schema = strict(json.loads(path.read_text()))
        jsonschema.Draft7Validator(schema).validate(obj)


def test_strict_crd_schema_refuses_an_unknown_field(render: Render) -> None:
    """The check above would catch a misspelt field (not only a wrong type)."""
    monitor = copy.deepcopy(by_kind(render(), "ServiceMonitor")[0])
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    schema = strict(json.loads((SHARED_K8S / "crd-schemas" / "servicemonitor_v1.json").read_text()))
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.Draft7Validator(schema).validate(monitor)


def test_operator_objects_only_where_the_api_exists(render: Render) -> None:
    """A cluster without the Prometheus Operator gets no ServiceMonitor nor PrometheusRule
    (applying them there would fail the whole install)."""
    kinds = {o["kind"] for o in render(monitoring=False)}
    assert not kinds & set(CRD_SCHEMAS)
    assert "Deployment" in kinds


def test_qdrant_subchart_renders_from_the_packaged_dependency(render: Render) -> None:
    values = CHART / "ci" / "gpu-triton-values.yaml"
    statefulsets = by_kind(render(values), "StatefulSet")
    assert [s["metadata"]["name"] for s in statefulsets] == ["sguardo-qdrant"]
    assert statefulsets[0]["spec"]["replicas"] == 3


def test_chart_packages_with_its_monitoring_files(helm: str, chart: Path, tmp_path: Path) -> None:

    run_helm(helm, "package", str(chart), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("sguardo-*.tgz")
    with tarfile.open(package) as archive:
        names = set(archive.getnames())
    assert "sguardo/files/prometheus-rules/sguardo-alerts.yml" in names
    assert "sguardo/values.schema.json" in names
    assert not [n for n in names if n.startswith("sguardo/ci/") or n.endswith(".gitignore")]


def test_the_service_monitor_names_the_job_the_alerts_select(render: Render) -> None:
    alerts = (REPO_ROOT / "deploy/monitoring/prometheus/rules/sguardo-alerts.yml").read_text()
    (monitor,) = by_kind(render(), "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    assert f'up{{job="{relabel["replacement"]}"}}' in alerts
