"""Config loading with overrides, the loss, AdaBelief, AGC and the schedule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sguardo.model.train.config import load_train_config
from sguardo.model.train.freezing import trainable_towers
from sguardo.model.train.loss import contrastive_loss
from sguardo.model.train.optim import AdaBelief, adaptive_clip_grad_, warmup_cosine


def test_yaml_config_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "preset: e5-small-effnet-lite0\nlr: 0.001\ndata:\n  - kind: jsonl\n    path: a.jsonl\n"
    )
    config = load_train_config(
        tmp_path / "c.yaml", ["lr=3e-4", "lock_text=true", "data.0.images=/img", "epochs=2"]
    )
    assert config.lr == 3e-4 and config.lock_text and config.epochs == 2
    assert config.data[0].kind == "jsonl"
    assert config.decay == 0.0  # AdaBelief default: no weight decay, as clip-italian
    with pytest.raises(ValueError):
        load_train_config(None, ["no_such_key=1"])
    with pytest.raises(ValueError):
        load_train_config(None, ["preset=nope"])


def test_loss_is_symmetric_infonce() -> None:
    torch.manual_seed(0)
    images = F.normalize(torch.randn(5, 8), dim=-1)
    texts = F.normalize(torch.randn(5, 8), dim=-1)
    logits = 20 * images @ texts.T
    labels = torch.arange(5)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(contrastive_loss(images, texts, 20.0), expected)
    # A perfect alignment at a high temperature has almost no loss.
    assert float(contrastive_loss(images, images, 100.0)) < 1e-3


def test_phases() -> None:
    assert trainable_towers(0, 10, False, False) == (False, False)
    assert trainable_towers(10, 10, False, False) == (True, True)
    assert trainable_towers(10, 10, False, True) == (True, False)  # LiT: image tower locked


def test_adabelief_first_step_and_agc() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    p.grad = torch.tensor([0.5, 0.5])
    AdaBelief([p], lr=0.1).step()
    # Step 1: m = 0.1 g, s = 0.001 (g - m)² → m̂ / sqrt(ŝ) = g / |0.9 g| per element.
    torch.testing.assert_close(p.detach(), torch.tensor([1.0 - 0.1 / 0.9, -2.0 - 0.1 / 0.9]))
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0], [0.0, 0.1]]))
    w.grad = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    adaptive_clip_grad_([w], clip=0.01)
    # Row 0: ‖w‖ = 5 → max ‖g‖ 0.05; row 1: ‖w‖ = 0.1 → max 0.001.
    torch.testing.assert_close(w.grad, torch.tensor([[0.05, 0.0], [0.001, 0.0]]))


def test_warmup_then_cosine() -> None:
    factor = warmup_cosine(4, 12)
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(8) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factor(12) == pytest.approx(0.0)
