"""Optimisers (AdamW; clip-italian's AdaBelief with adaptive gradient clipping and no weight
decay), parameter groups (lower learning rate for backbones) and the warmup + cosine schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

OptimizerName = Literal["adamw", "adabelief", "sgd"]


class AdaBelief(torch.optim.Optimizer):
    """AdaBelief (Zhuang et al., 2020): Adam whose second moment tracks (g - m)², the "belief"
    in the gradient; bias-corrected, with decoupled weight decay. Written out because the
    `adabelief-pytorch` package is unmaintained (last release 2021)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
    ):
        super().__init__(
            params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        )

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_var"] = torch.zeros_like(p)
                state["step"] += 1
                m, s, g = state["exp_avg"], state["exp_avg_var"], p.grad
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                residual = g - m
                s.mul_(beta2).addcmul_(residual, residual, value=1 - beta2).add_(group["eps"])
                bias1 = 1 - beta1 ** state["step"]
                bias2 = 1 - beta2 ** state["step"]
                denom = (s / bias2).sqrt_().add_(group["eps"])
                p.addcdiv_(m, denom, value=-group["lr"] / bias1)
        return loss


def _unitwise_norm(x: torch.Tensor) -> torch.Tensor:
    if x.ndim <= 1:
        return x.norm()
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


@torch.no_grad()
def adaptive_clip_grad_(
    parameters: Iterable[nn.Parameter], clip: float = 0.01, eps: float = 1e-3
) -> None:
    """Adaptive gradient clipping (Brock et al., 2021, as optax.adaptive_grad_clip): scale each
    unit's gradient so that ‖g‖ ≤ clip · max(‖w‖, eps), unit = output row."""
    for p in parameters:
        if p.grad is None:
            continue
        max_norm = _unitwise_norm(p).clamp(min=eps) * clip
        grad_norm = _unitwise_norm(p.grad)
        scale = torch.where(grad_norm > max_norm, max_norm / grad_norm.clamp(min=1e-6), 1.0)
        p.grad.mul_(scale)


def _is_backbone(name: str) -> bool:
    return name.startswith(("text_tower.", "vision_tower."))


def _no_decay(name: str, p: nn.Parameter) -> bool:
    return p.ndim < 2 or "logit_scale" in name or "norm" in name.lower()


def parameter_groups(
    model: nn.Module, lr: float, backbone_lr: float, weight_decay: float
) -> list[dict]:
    """Heads and backbones, each with and without weight decay. All parameters are included,
    frozen ones too: a parameter without a gradient is skipped by the optimiser, so phases only
    toggle `requires_grad`."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        groups.setdefault((_is_backbone(name), _no_decay(name, p)), []).append(p)
    return [
        {
            "params": params,
            "lr": backbone_lr if backbone else lr,
            "weight_decay": 0.0 if no_decay else weight_decay,
            "name": ("backbone" if backbone else "head") + ("_no_decay" if no_decay else ""),
        }
        for (backbone, no_decay), params in sorted(groups.items())
    ]


def build_optimizer(
    model: nn.Module, name: OptimizerName, lr: float, backbone_lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    groups = parameter_groups(model, lr, backbone_lr, weight_decay)
    if name == "adabelief":
        return AdaBelief(groups, lr=lr)
    if name == "sgd":  # linear in the gradient: what exactness tests compare runs with
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    """Multiplier for LambdaLR: linear warmup from 0, then cosine decay to `min_ratio`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor
