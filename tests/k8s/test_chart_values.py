"""values.schema.json and the chart's `fail` rules refuse wrong values with a message that
names the value; the README's table documents every value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .conftest import CHART, run_helm
from .values_table import TABLE_BEGIN, TABLE_END, table

REFUSED = [
    # (--set / --set-json arguments, text the error must contain)
    (("--set", "settings.precision=fp64"), "settings.precision"),
    (("--set", "settings.max_bach_size=8"), "max_bach_size is not allowed"),
    (("--set", "replicaCount=2"), "embedded vector store admits one process"),
    (("--set", "autoscaling.enabled=true"), "embedded vector store admits one process"),
    (("--set", "image.tag=latest"), 'image.tag "latest" is refused'),
    (("--set", "bundle.path=models/current"), "bundle.path"),
    (("--set", "bundle.path=/data/current"), "must be a directory under bundle.mountPath"),
    (("--set", "securityContext.readOnlyRootFilesystem=false"), "readOnlyRootFilesystem"),
    (("--set", "podSecurityContext.runAsNonRoot=false"), "runAsNonRoot"),
    (("--set", "gpu.count=0"), "gpu.count"),
    (("--set", "service.port=70000"), "service.port"),
    (("--set", "settings.limits.max_image_bytes=0"), "max_image_bytes"),
    (("--set", "retraining.schedule=every night"), "retraining.schedule"),
    (("--set", "image.digest=sha256:abc"), "image.digest"),
    (
        ("--set", "qdrant.enabled=true", "--set", "externalQdrant.url=http://q:6333"),
        "choose the in-release Qdrant or an external one",
    ),
    (("--set", "retraining.enabled=true"), "needs a Qdrant server"),
    (
        ("--set", "retraining.enabled=true", "--set", "qdrant.enabled=true"),
        "add ReadWriteMany to bundle.persistence.accessModes",
    ),
    (
        ("--set", "externalQdrant.url=http://q:6333"),
        "networkPolicy.enabled blocks egress to externalQdrant.url",
    ),
    (
        (
            "--set",
            "qdrant.enabled=true",
            "--set",
            "autoscaling.enabled=true",
            "--set",
            "autoscaling.minReplicas=5",
            "--set",
            "autoscaling.maxReplicas=2",
        ),
        "minReplicas is greater than autoscaling.maxReplicas",
    ),
]


@pytest.mark.parametrize(("args", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_wrong_values_are_refused(
    helm: str, chart: Path, args: tuple[str, ...], message: str
) -> None:
    completed = run_helm(helm, "template", "sguardo", str(chart), *args, check=False)
    assert completed.returncode != 0, f"accepted: {args}"
    assert message in completed.stderr, completed.stderr


def test_every_value_is_described_in_the_schema() -> None:
    rows = table(CHART)  # raises on a value the schema does not describe
    assert len(rows) > 100


def test_readme_values_table_is_current() -> None:
    """Regenerate with: .venv/bin/python tests/k8s/values_table.py --write"""
    readme = (CHART / "README.md").read_text()
    start = readme.index(TABLE_BEGIN) + len(TABLE_BEGIN)
    current = readme[start : readme.index(TABLE_END)].strip("\n")
    assert current == "\n".join(table(CHART)), (
        "run: .venv/bin/python tests/k8s/values_table.py --write"
    )


def test_defaults_satisfy_the_schema_as_helm_reads_them() -> None:
    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))
