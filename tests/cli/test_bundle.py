"""`sguardo bundle info` and `sguardo bundle triton-repo`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sguardo.bundle.loader import Bundle
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
