"""Symmetric InfoNCE over the in-batch similarity matrix, with negatives from every rank.

Each rank scores its own rows against the embeddings gathered from all ranks; the gather is
`torch.distributed.nn.functional.all_gather`, whose backward sends every rank the gradient
for its own rows. Summed over ranks, the per-rank losses (means over local rows) are
world_size × the single-process loss over the global batch, and DDP averages gradients over
world_size: the update equals a single-process step on the same global batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All ranks' rows concatenated in rank order (gradients flow back to their owner), and the
    offset of this rank's rows. Ranks may hold different numbers of rows."""
    rank, world = _world()
    if world == 1:
        return x, 0
    from torch.distributed.nn.functional import all_gather

    sizes_local = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(sizes_local) for _ in range(world)]
    dist.all_gather(sizes, sizes_local)
    counts = [int(s.item()) for s in sizes]
    longest = max(counts)
    padded = F.pad(x, (0, 0, 0, longest - x.shape[0])) if x.shape[0] < longest else x
    parts = all_gather(padded)
    gathered = torch.cat([part[:n] for part, n in zip(parts, counts, strict=True)])
    return gathered, sum(counts[:rank])


def contrastive_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float
) -> torch.Tensor:
    """Mean of image→text and text→image cross-entropy; embeddings already L2-normalised;
    row i of the images matches row i of the texts."""
    all_images, offset = gather_with_grad(image_emb)
    all_texts, _ = gather_with_grad(text_emb)
    labels = torch.arange(image_emb.shape[0], device=image_emb.device) + offset
    logits_per_image = logit_scale * image_emb @ all_texts.T
    logits_per_text = logit_scale * text_emb @ all_images.T
    return (
        F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)
    ) / 2
