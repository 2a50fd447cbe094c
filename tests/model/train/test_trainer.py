"""The real trainer for a few steps on synthetic data (as open_clip's test_training_simple)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.train.config import TrainConfig
from sguardo.model.train.trainer import train


def test_loss_decreases_and_model_is_saved(
    train_overrides: dict, tmp_path: Path, italian_sentences: list[str], make_jsonl
) -> None:
    # Overfit one batch: 4 images, no augmentation, for 30 steps.
    manifest = make_jsonl(tmp_path / "four", italian_sentences, n=4)
    config = TrainConfig.model_validate(
        train_overrides
        | {
            "max_steps": 30,
            "augment": False,
            "lock_text": True,
            "lock_image": True,
            "data": [{"kind": "jsonl", "path": str(manifest)}],
        }
    )
    result = train(config)
    assert result.steps == 30
    assert result.losses[-1] < 0.5 * result.losses[0]
    out = Path(config.output_dir)
    saved = DualEncoder.load(out / "model")
    assert saved.config.embed_dim == 16
    assert json.loads((out / "train_report.json").read_text())["backbones_trained"] is False
    assert (out / "checkpoints" / "latest.pt").is_file()


def test_two_phases_unfreeze_backbones(train_overrides: dict) -> None:
    config = TrainConfig.model_validate(
        train_overrides
        | {
            "max_steps": 4,
            "projection_steps": 2,
            "optimizer": "adabelief",
            "agc_clip": 0.01,
            "grad_accum_steps": 2,
            "batch_size": 2,
        }
    )
    before = {k: v.clone() for k, v in DualEncoder.from_config(config.model).state_dict().items()}
    result = train(config)
    after = result.model.state_dict()
    text_key = next(k for k in after if k.startswith("text_tower.") and "weight" in k)
    assert not torch.equal(before[text_key], after[text_key]), "text tower never learned"
    # The trained backbones are saved with the model, not only its heads.
    out = Path(config.output_dir)
    saved = DualEncoder.load(out / "model").state_dict()
    torch.testing.assert_close(saved[text_key], after[text_key])
    assert json.loads((out / "train_report.json").read_text())["backbones_trained"] is True


def test_resume_gives_identical_continuation(train_overrides: dict, tmp_path: Path) -> None:
    common = train_overrides | {
        "max_steps": 4,
        "steps_per_epoch": 2,
        "augment": True,
        "save_every": 2,
        "keep_checkpoints": 5,
        "deterministic_backbones": True,
        "projection_steps": 1,
        "optimizer": "adabelief",
        "agc_clip": 0.01,
    }
    full = train(TrainConfig.model_validate(common | {"output_dir": str(tmp_path / "full")}))
    halfway = tmp_path / "full" / "checkpoints" / "step_00000002.pt"
    resumed = train(
        TrainConfig.model_validate(
            common | {"output_dir": str(tmp_path / "resumed"), "resume": str(halfway)}
        )
    )
    assert resumed.steps == 4
    assert resumed.losses == pytest.approx(full.losses[2:], rel=1e-5)
    expected = full.model.state_dict()
    for key, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-5, atol=1e-6)


def test_trains_from_webdataset_shards(train_overrides: dict, tmp_path: Path) -> None:
    import io
    import tarfile

    import numpy as np
    from PIL import Image

    for shard in range(2):
        with tarfile.open(tmp_path / f"shard-{shard:04d}.tar", "w") as tar:
            for i in range(6):
                buffer = io.BytesIO()
                Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(buffer, "JPEG")
                files = {
                    f"{shard}_{i}.jpg": buffer.getvalue(),
                    f"{shard}_{i}.txt": f"una foto numero {i}".encode(),
                }
                for name, payload in files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    config = TrainConfig.model_validate(
        train_overrides
        | {
            "data": [{"kind": "webdataset", "path": str(tmp_path / "shard-{0000..0001}.tar")}],
            "steps_per_epoch": 2,
            "epochs": 2,
            "lock_text": True,
            "lock_image": True,
        }
    )
    result = train(config)
    assert result.steps == 4 and all(np.isfinite(result.losses))
