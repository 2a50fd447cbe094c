"""Two processes under torchrun (gloo, CPU) give the same model as one process on the same
global batch: the loss gathers embeddings across ranks, so the negatives are the global batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sguardo.model.train.config import TrainConfig
from sguardo.model.train.trainer import train


def test_two_process_gloo_matches_single_process(train_overrides: dict, tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed beside this Python")
    common = train_overrides | {
        "max_steps": 3,
        "batch_size": 4,
        "projection_steps": 1,  # step 1 heads only, then both towers learn
        "augment": True,
        "deterministic_backbones": True,  # dropout would differ between the runs
        # SGD: Adam-type first steps are ~lr·sign(g), so a 1e-9 difference in a near-zero
        # gradient (summation order differs across processes) would flip a whole lr-sized step.
        "optimizer": "sgd",
        "lr": 0.1,
        "backbone_lr": 0.05,
    }
    single = train(TrainConfig.model_validate(common | {"output_dir": str(tmp_path / "single")}))

    config_file = tmp_path / "ddp.json"
    config_file.write_text(json.dumps(common | {"output_dir": str(tmp_path / "ddp")}))
    env = os.environ | {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "sguardo",
            "train",
            str(config_file),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "ddp" / "train_report.json").read_text())
    assert report["world_size"] == 2 and report["steps"] == 3

    ddp_state = load_file(str(tmp_path / "ddp" / "model" / "heads.safetensors"))
    for key, value in ddp_state.items():
        torch.testing.assert_close(value, single.model.state_dict()[key], rtol=1e-4, atol=1e-5)
    ddp_checkpoint = torch.load(
        tmp_path / "ddp" / "checkpoints" / "step_00000003.pt", weights_only=False
    )["model"]
    backbone_key = next(
        k for k in ddp_checkpoint if k.startswith("vision_tower.") and "weight" in k
    )
    torch.testing.assert_close(
        ddp_checkpoint[backbone_key], single.model.state_dict()[backbone_key], rtol=1e-4, atol=1e-5
    )
    from sguardo.model.dual_encoder import DualEncoder

    initial = DualEncoder.from_config(single.model.config).state_dict()[backbone_key]
    assert not torch.allclose(initial, ddp_checkpoint[backbone_key])  # the tower did learn
