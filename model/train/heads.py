"""Projection-only training on precomputed backbone features.

With both towers locked (clip-italian's first phase, LiT with two locked towers) the backbones'
outputs are constants, so each image (and augmented view) and caption is encoded once and the
projections train on the cached features: the same loss, optimiser, clipping and schedule as
the full trainer, at a tiny fraction of the cost. One caption and one view are sampled per
image per epoch.

Optionally the features are whitened first (PCA on the training features, their mean
direction projected out, each component scaled to unit variance). Whitening is linear, so it
folds into the projection: the saved head is still one bias-free matrix, hidden → embed_dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.train.loss import contrastive_loss
from sguardo.model.train.optim import (
    OptimizerName,
    adaptive_clip_grad_,
    build_optimizer,
    warmup_cosine,
)


@dataclass
class HeadTrainingConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: OptimizerName = "adabelief"
    agc_clip: float | None = 0.01
    warmup_steps: int = 50
    seed: int = 0
    whiten_components: int = 0  # 0: train on the raw features
    whiten_scale: bool = True  # False: only rotate onto the principal directions
    # Photos of one class in a batch are each other's positives (not negatives): the targets
    # spread over them. Needs `classes` in `train_heads_on_features`.
    class_positives: bool = False


@dataclass
class HeadTrainingResult:
    steps: int
    losses: list[float] = field(default_factory=list)  # mean loss per epoch


def whitening(features: np.ndarray, components: int, scale: bool = True) -> np.ndarray:
    """(components, hidden) linear map: top principal directions of the centred features,
    scaled to unit variance, applied after projecting out the mean direction (a bias-free
    head cannot subtract the mean; it can remove its direction)."""
    x = features.astype(np.float64)
    mean = x.mean(axis=0)
    unit = mean / np.linalg.norm(mean)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(components, len(singular))
    scaled = vt[:k] / (singular[:k, None] / np.sqrt(len(x)) + 1e-6) if scale else vt[:k]
    return (scaled @ (np.eye(len(unit)) - np.outer(unit, unit))).astype(np.float32)


class _Heads(nn.Module):
    def __init__(self, model: DualEncoder, image_in: int, text_in: int):
        super().__init__()
        self.visual_projection = nn.Linear(image_in, model.config.embed_dim, bias=False)
        self.text_projection = nn.Linear(text_in, model.config.embed_dim, bias=False)


def train_heads_on_features(
    model: DualEncoder,
    image_views: np.ndarray,
    caption_features: Sequence[np.ndarray],
    config: HeadTrainingConfig,
    classes: Sequence[str | None] | None = None,
) -> HeadTrainingResult:
    """`image_views`: (images, views, vision_hidden); `caption_features[i]`: (captions of
    image i, text_hidden); `classes[i]`: image i's class, None for a photo of its own (used by
    `config.class_positives`). Only the projections end up changed in `model`."""
    n_images, n_views, _ = image_views.shape
    if len(caption_features) != n_images:
        raise ValueError("one caption-feature array per image is needed")
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    steps_per_epoch = n_images // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{n_images} images make no batch of {config.batch_size}")
    image_map: np.ndarray | None = None
    text_map: np.ndarray | None = None
    if config.whiten_components:
        image_map = whitening(
            image_views.reshape(n_images * n_views, -1),
            config.whiten_components,
            config.whiten_scale,
        )
        text_map = whitening(
            np.concatenate(list(caption_features)), config.whiten_components, config.whiten_scale
        )
        image_views = image_views @ image_map.T
        caption_features = [c @ text_map.T for c in caption_features]
    heads = _Heads(model, image_views.shape[-1], caption_features[0].shape[-1])
    class_ids = _class_ids(classes, n_images) if config.class_positives else None
    if image_map is None:
        heads.load_state_dict(
            {
                "visual_projection.weight": model.visual_projection.weight.detach(),
                "text_projection.weight": model.text_projection.weight.detach(),
            }
        )
    total = steps_per_epoch * config.epochs
    optimizer = build_optimizer(heads, config.optimizer, config.lr, 0.0, config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(config.warmup_steps, total)
    )
    scale = model.logit_scale.detach().exp()
    views = torch.from_numpy(np.ascontiguousarray(image_views, dtype=np.float32))
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
            text_x = torch.from_numpy(
                np.stack([caption_features[i][caption[i]] for i in idx]).astype(np.float32)
            )
            image_emb = F.normalize(heads.visual_projection(image_x), dim=-1)
            text_emb = F.normalize(heads.text_projection(text_x), dim=-1)
            if class_ids is None:
                loss = contrastive_loss(image_emb, text_emb, scale)
            else:
                loss = _multi_positive_loss(image_emb, text_emb, scale, class_ids[idx])
            loss.backward()
            if config.agc_clip:
                adaptive_clip_grad_(heads.parameters(), config.agc_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            epoch_losses.append(float(loss.detach()))
        result.losses.append(float(np.mean(epoch_losses)))
    with torch.no_grad():
        for name, fixed in (("visual_projection", image_map), ("text_projection", text_map)):
            learned = getattr(heads, name).weight
            folded = learned if fixed is None else learned @ torch.from_numpy(fixed)
            getattr(model, name).weight.copy_(folded)
    model.eval()
    return result


def _class_ids(classes: Sequence[str | None] | None, n_images: int) -> np.ndarray:
    if classes is None or len(classes) != n_images:
        raise ValueError("class_positives needs one class (or None) per image")
    names: dict[str, int] = {}
    ids = np.empty(n_images, dtype=np.int64)
    for i, name in enumerate(classes):
        ids[i] = n_images + names.setdefault(name, len(names)) if name is not None else i
    return ids


def _multi_positive_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor, ids: np.ndarray
) -> torch.Tensor:
    """Symmetric InfoNCE whose targets are uniform over the batch's same-class pairs."""
    same = torch.from_numpy(ids[:, None] == ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    logits = scale * image_emb @ text_emb.T
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets.T)) / 2


@torch.no_grad()
def project(model: nn.Module, features: np.ndarray, tower: str) -> np.ndarray:
    """Backbone features → L2-normalised embeddings through one projection head of `model`
    (a `DualEncoder`, or anything holding `text_projection` and `visual_projection`)."""
    head = getattr(model, "text_projection" if tower == "text" else "visual_projection")
    return F.normalize(head(torch.from_numpy(features)), dim=-1).numpy()
