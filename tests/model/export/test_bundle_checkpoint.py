"""The bundle carries its evaluation metrics and its training checkpoint (heads only when the
backbones are published ones, the whole model otherwise), hashed like the graphs, so the next
retraining starts from the bundle alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sguardo.bundle.manifest import BundleError, read_manifest
from sguardo.cli import app
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.export.bundle_export import ExportOptions, export_bundle
from sguardo.model.export.parity_inputs import default_captions, default_images


def test_local_backbones_give_a_full_checkpoint_that_loads_as_the_same_model(
    tiny_bundle_dir: Path, tiny_model: DualEncoder, italian_sentences: list[str]
) -> None:
    manifest = read_manifest(tiny_bundle_dir)
    assert manifest.checkpoint == "checkpoint"
    hashed = [name for name in manifest.files if name.startswith("checkpoint/")]
    assert "checkpoint/heads.safetensors" in hashed
    assert any(name.startswith("checkpoint/text/") for name in hashed)  # the towers too
    assert any(name.startswith("checkpoint/vision/") for name in hashed)
    reloaded = DualEncoder.load(tiny_bundle_dir / "checkpoint")
    texts = italian_sentences[:4]
    assert torch.allclose(reloaded.embed_texts(texts), tiny_model.embed_texts(texts), atol=1e-6)


def test_heads_only_checkpoint_and_metrics(tiny_model: DualEncoder, tmp_path: Path) -> None:
    result = export_bundle(
        tiny_model,
        tmp_path / "b",
        default_captions()[:4],
        default_images()[:2],
        ExportOptions(progress=False, checkpoint="heads", metrics={"t2i_recall_at_10": 0.5}),
    )
    assert sorted(p.name for p in (result.directory / "checkpoint").iterdir()) == [
        "heads.safetensors",
        "sguardo_model.json",
    ]
    manifest = read_manifest(result.directory)
    assert manifest.metrics == {"t2i_recall_at_10": 0.5}
    assert manifest.logit_scale == pytest.approx(20.0)


def test_an_altered_checkpoint_fails_verification(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(tiny_bundle_dir, tmp_path / "copy"))
    heads = copy / "checkpoint" / "heads.safetensors"
    os.chmod(heads, 0o644)
    heads.write_bytes(heads.read_bytes()[:-1] + b"\0")
    with pytest.raises(BundleError, match=r"checkpoint/heads\.safetensors"):
        read_manifest(copy)


def test_no_checkpoint_on_request(tiny_model: DualEncoder, tmp_path: Path) -> None:
    result = export_bundle(
        tiny_model,
        tmp_path / "b",
        default_captions()[:4],
        default_images()[:2],
        ExportOptions(progress=False, checkpoint="none"),
    )
    assert result.manifest.checkpoint is None
    assert not (result.directory / "checkpoint").exists()


def test_cli_writes_metrics_from_a_file_and_a_saved_fine_tuned_model_exports_full(
    tiny_model: DualEncoder, tmp_path: Path
) -> None:
    model_dir = tiny_model.save(tmp_path / "model")  # towers saved: a fine-tuned model
    metrics = tmp_path / "eval.json"
    metrics.write_text(json.dumps({"metrics": {"zeroshot_top1": 0.25, "t2i_recall_at_10": 0.5}}))
    out = tmp_path / "bundle"
    args = ["export", "--model", str(model_dir), "-o", str(out), "--metrics", str(metrics)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest.metrics == {"zeroshot_top1": 0.25, "t2i_recall_at_10": 0.5}
    assert (out / "checkpoint" / "text").is_dir() and (out / "checkpoint" / "vision").is_dir()


def test_cli_refuses_unreadable_metrics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('["not", "an", "object"]')
    result = CliRunner().invoke(app, ["export", "-o", str(tmp_path / "b"), "--metrics", str(bad)])
    assert result.exit_code == 2
    assert "cannot read metrics" in result.output
