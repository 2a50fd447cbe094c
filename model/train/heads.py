"""Projection-only training on precomputed backbone features.

With both towers locked (clip-italian's first phase, LiT with two locked towers) the backbones'
outputs are constants, so each image (and augmented view) and caption is encoded once and the
projections train on the cached features: the same loss, optimiser, clipping and schedule as
the full trainer, at a tiny fraction of the cost. One caption and one view are sampled per
image per epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from model.dual_encoder import DualEncoder
from model.train.loss import contrastive_loss
from model.train.optim import OptimizerName, adaptive_clip_grad_, build_optimizer, warmup_cosine


@dataclass
class HeadTrainingConfig:
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: OptimizerName = "adabelief"
    agc_clip: float | None = 0.01
    warmup_steps: int = 50
    seed: int = 0


@dataclass
class HeadTrainingResult:
    steps: int
    losses: list[float] = field(default_factory=list)  # mean loss per epoch


def train_heads_on_features(
    model: DualEncoder,
    image_views: np.ndarray,
    caption_features: Sequence[np.ndarray],
    config: HeadTrainingConfig,
) -> HeadTrainingResult:
    """`image_views`: (images, views, vision_hidden); `caption_features[i]`: (captions of
    image i, text_hidden). Only the projections (and a learnable logit scale) are updated."""
    n_images, n_views, _ = image_views.shape
    if len(caption_features) != n_images:
        raise ValueError("one caption-feature array per image is needed")
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    model.text_tower.requires_grad_(False)
    model.vision_tower.requires_grad_(False)
    steps_per_epoch = n_images // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{n_images} images make no batch of {config.batch_size}")
    total = steps_per_epoch * config.epochs
    optimizer = build_optimizer(model, config.optimizer, config.lr, 0.0, config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(config.warmup_steps, total)
    )
    heads = [p for p in model.parameters() if p.requires_grad]
    views = torch.from_numpy(image_views)
    result = HeadTrainingResult(steps=total)
    for _ in range(config.epochs):
        order = rng.permutation(n_images)
        view = torch.from_numpy(rng.integers(n_views, size=n_images))
        caption = [int(rng.integers(len(caption_features[i]))) for i in range(n_images)]
        epoch_losses = []
        for b in range(steps_per_epoch):
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            rows = torch.from_numpy(idx)
            image_x = views[rows, view[rows]]
            text_x = torch.from_numpy(np.stack([caption_features[i][caption[i]] for i in idx]))
            image_emb = F.normalize(model.visual_projection(image_x), dim=-1)
            text_emb = F.normalize(model.text_projection(text_x), dim=-1)
            loss = contrastive_loss(image_emb, text_emb, model.logit_scale.exp())
            loss.backward()
            if config.agc_clip:
                adaptive_clip_grad_(heads, config.agc_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            epoch_losses.append(float(loss.detach()))
        result.losses.append(float(np.mean(epoch_losses)))
    model.eval()
    return result


@torch.no_grad()
def project(model: DualEncoder, features: np.ndarray, tower: str) -> np.ndarray:
    """Backbone features → L2-normalised embeddings through one projection head."""
    head = model.text_projection if tower == "text" else model.visual_projection
    return F.normalize(head(torch.from_numpy(features)), dim=-1).numpy()
