"""A night that fails before its gate: exit 1, a report that says which step and why, the
failed decision pushed, and nothing touched; the same command then resumes at that step."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from sguardo.bundle.manifest import (
    ImagePreprocessing,
    Manifest,
    TextPreprocessing,
    VariantFiles,
    write_manifest,
)
from sguardo.bundle.registry import Registry
from sguardo.cli import app
from sguardo.pipeline.nightly import EXIT_CODES


def write_config(root: Path, registry: Path, manifest: Path) -> Path:
    raw = {
        "registry": str(registry),
        "runs_dir": str(root / "runs"),
        "data": {"new": [{"kind": "jsonl", "path": str(manifest)}]},
        "evaluation": {"retrieval": {"kind": "jsonl", "path": str(manifest)}},
        "store": {"path": str(root / "store"), "originals": str(root / "originals")},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def placeholder_bundle(directory: Path) -> Path:
    """A registrable bundle (hashed files, valid manifest); the night fails before using it."""
    directory.mkdir()
    for name in ("text.onnx", "vision.onnx", "tokenizer.json"):
        (directory / name).write_bytes(name.encode())
    write_manifest(
        directory,
        Manifest(
            model_id="test/placeholder",
            embedding_dim=8,
            variants={"fp32": VariantFiles(text="text.onnx", vision="vision.onnx")},
            text=TextPreprocessing(),
            image=ImagePreprocessing(),
        ),
    )
    return directory


def test_failed_night_reports_the_step_and_runs_it_again(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    entry, _ = registry.add(placeholder_bundle(tmp_path / "bundle"))
    registry.promote(entry.id)
    manifest = tmp_path / "new.jsonl"
    manifest.write_text(json.dumps({"image": "missing.jpg", "captions": ["un gatto"]}) + "\n")
    config = write_config(tmp_path, registry.root, manifest)
    args = ["pipeline", "nightly", "--config", str(config), "--run-dir", str(tmp_path / "run")]

    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_CODES["failed"] == 1, result.output
    assert "collect failed" in result.output and "no training data found" in result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["decision"] == "failed"
    assert report["error"].startswith("ValueError: no training data found")
    assert report["steps"]["collect"]["error"] == report["error"]
    assert not report["steps"]["collect"].get("done")
    pushed = report["pushgateway"]["metrics"]
    assert pushed["sguardo_retrain_decision"] == {"promoted": 0, "rejected": 0, "failed": 1}
    assert pushed["sguardo_retrain_last_success_timestamp_seconds"] is None  # never succeeded
    assert registry.current() == entry.id and registry.previous() == []

    # The same command again: the unfinished step runs again (here it fails again).
    assert CliRunner().invoke(app, args).exit_code == 1
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["invocations"] == 2
    assert state["steps"]["collect"]["attempts"] == 2


def test_a_config_error_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("registry: /r\nruns_dir: /x\nstore: {mode: direct}\n")
    result = CliRunner().invoke(app, ["pipeline", "nightly", "--config", str(config)])
    assert result.exit_code == 2
    assert "cannot read the pipeline config" in result.output
