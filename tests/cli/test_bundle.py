"""`sguardo bundle info` and `sguardo bundle triton-repo`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import read_manifest, write_manifest
from sguardo.bundle.registry import entry_id
from sguardo.cli import app


def test_info_prints_the_manifest(tiny_bundle_dir: Path) -> None:
    result = CliRunner().invoke(app, ["bundle", "info", str(tiny_bundle_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads((tiny_bundle_dir / "bundle.json").read_text())


def test_triton_repo_writes_one_model_per_tower(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    result = CliRunner().invoke(
        app, ["bundle", "triton-repo", str(tiny_bundle_dir), str(out), "--cpu"]
    )
    assert result.exit_code == 0, result.output
    bundle = Bundle.load(tiny_bundle_dir)
    for name, tower in (("sguardo_text", "text"), ("sguardo_vision", "vision")):
        assert f"{name}: {out / name}" in result.stdout
        config = (out / name / "config.pbtxt").read_text()
        assert "KIND_CPU" in config and "max_batch_size: 64" in config
        assert (out / name / "1" / "model.onnx").read_bytes() == bundle.onnx_path(
            tower
        ).read_bytes()


def test_triton_repo_refuses_a_directory_that_is_no_bundle(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bundle", "triton-repo", str(tmp_path), str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "bundle.json is missing" in " ".join(result.output.split())


def registry_cli(registry: Path, *args: str):
    env = {
        "SGUARDO_REGISTRY_PATH": str(registry),
        # No vector store there: `rollback` moves the registry only (see test_collection.py).
        "SGUARDO_STORE_PATH": str(registry.parent / "no-store"),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, ["bundle", *args], env=env)


def test_registry_add_list_promote_rollback(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    other = tmp_path / "other"
    shutil.copytree(tiny_bundle_dir, other)
    write_manifest(other, read_manifest(other).model_copy(update={"model_id": "altro"}))
    first_id = entry_id(read_manifest(tiny_bundle_dir))
    second_id = entry_id(read_manifest(other))

    assert "no bundles in" in registry_cli(registry, "list").stdout
    added = registry_cli(registry, "add", str(tiny_bundle_dir), "--promote")
    assert added.exit_code == 0, added.output
    assert (
        f"added: {first_id}" in added.stdout and f"current: {first_id} (was none)" in added.stdout
    )
    again = registry_cli(registry, "add", str(tiny_bundle_dir))
    assert f"already in the registry: {first_id}" in again.stdout
    # --registry wins over the environment.
    result = CliRunner().invoke(app, ["bundle", "add", str(other), "--registry", str(registry)])
    assert f"added: {second_id}" in result.stdout

    promoted = registry_cli(registry, "promote", second_id)
    assert f"current: {second_id} (was {first_id})" in promoted.stdout
    assert "already current" in registry_cli(registry, "promote", second_id).stdout
    listing = registry_cli(registry, "list").stdout
    rows = {line.split("│")[2].strip(): line for line in listing.splitlines() if "│" in line}
    assert "current" in rows[second_id] and "previous -1" in rows[first_id]
    assert "altro" in rows[second_id] and "fp32" in rows[second_id]

    rolled = registry_cli(registry, "rollback")
    assert f"rolled back: current: {first_id} (was {second_id})" in rolled.stdout
    assert Bundle.load(registry / "current").model_id != "altro"


def test_registry_errors_say_what_to_do(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    unknown = registry_cli(registry, "promote", "nessuno")
    assert unknown.exit_code == 1
    assert "no bundle 'nessuno'" in unknown.output and "sguardo bundle add" in unknown.output
    empty = registry_cli(registry, "rollback")
    assert empty.exit_code == 1 and "nothing to roll back to" in empty.output
    not_a_bundle = registry_cli(registry, "add", str(tmp_path))
    assert not_a_bundle.exit_code == 1 and "bundle.json is missing" in not_a_bundle.output
