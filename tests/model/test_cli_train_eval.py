"""`sguardo train` and `sguardo eval` end to end on the tiny model, bundle and data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sguardo.cli import app


def test_train_cli_with_overrides(tiny_config, tmp_path: Path, italian_sentences) -> None:
    rows = []
    for i, sentence in enumerate(italian_sentences[:8]):
        Image.fromarray(np.full((20, 20, 3), 30 * i, np.uint8)).save(tmp_path / f"{i}.jpg")
        rows.append(json.dumps({"image": f"{i}.jpg", "captions": [sentence]}))
    (tmp_path / "d.jsonl").write_text("\n".join(rows))
    config = {
        "preset": None,
        "model": tiny_config.model_dump(mode="json"),
        "data": [{"kind": "jsonl", "path": str(tmp_path / "d.jsonl")}],
        "batch_size": 4,
        "progress": False,
    }
    (tmp_path / "c.json").write_text(json.dumps(config))
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(tmp_path / "c.json"),
            "--set",
            "lock_text=true",
            "--set",
            "lock_image=true",
            "--output-dir",
            str(tmp_path / "run"),
            "--max-steps",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "model" / "heads.safetensors").is_file()
    assert (tmp_path / "run" / "tensorboard").is_dir()
    bad = CliRunner().invoke(app, ["train", str(tmp_path / "c.json"), "--set", "nope=1"])
    assert bad.exit_code == 2


def test_eval_cli_on_tiny_bundle(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    rows = ["wnid\titalian\tsplit"]
    # One photo for every class: whatever the model, each class's image gets the same
    # prediction, so exactly one of the three is right.
    for i, name in enumerate(["un gatto", "un cane", "una tazza"]):
        Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(tmp_path / f"c{i}.jpg")
        rows.append(f"c{i}\t{name}\tdev")
    (tmp_path / "labels.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "t.txt").write_text("una foto di {}\n")
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "zeroshot",
            "--labels",
            str(tmp_path / "labels.tsv"),
            "--images",
            str(tmp_path),
            "--templates",
            str(tmp_path / "t.txt"),
            "--bundle",
            str(tiny_bundle_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["metrics"]
    assert report["classes"] == 3 and report["images"] == 3
    assert report["accuracy@1"] == pytest.approx(1 / 3)
    (tmp_path / "r.jsonl").write_text(
        "\n".join(json.dumps({"image": f"c{i}.jpg", "captions": ["una foto"]}) for i in range(3))
    )
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "retrieval",
            "--captions",
            str(tmp_path / "r.jsonl"),
            "--images",
            str(tmp_path),
            "--bundle",
            str(tiny_bundle_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "text_to_image/mrr@1" in result.output
