"""Checkpoints with resume: model (trainable parts), optimiser, scheduler, step, RNG states."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sguardo.model.dual_encoder import HEAD_PREFIXES

LATEST = "latest.pt"


def model_state(model: torch.nn.Module, heads_only: bool) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    if heads_only:
        state = {k: v for k, v in state.items() if k.startswith(HEAD_PREFIXES)}
    return {k: v.detach().cpu() for k, v in state.items()}


def save_checkpoint(
    directory: Path,
    *,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any | None,
    heads_only: bool,
    keep: int = 2,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "step": step,
        "model": model_state(model, heads_only),
        "heads_only": heads_only,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        },
    }
    path = directory / f"step_{step:08d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    latest = directory / LATEST
    tmp_latest = directory / "latest.tmp"
    torch.save({"path": path.name}, tmp_latest)
    tmp_latest.replace(latest)
    for old in sorted(directory.glob("step_*.pt"))[:-keep]:
        old.unlink()
    return path


def resolve_checkpoint(spec: str, directory: Path) -> Path | None:
    """`latest` → the newest checkpoint in `directory` (None when there is none yet)."""
    if spec != "latest":
        return Path(spec)
    latest = directory / LATEST
    if not latest.is_file():
        return None
    return directory / torch.load(latest, weights_only=True)["path"]


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any | None,
) -> int:
    """Restore everything; returns the step to continue from."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    _missing, unexpected = model.load_state_dict(payload["model"], strict=not payload["heads_only"])
    if unexpected:
        raise ValueError(f"{path}: checkpoint does not fit the model: {unexpected[:5]}")
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    if scaler is not None and payload.get("scaler"):
        scaler.load_state_dict(payload["scaler"])
    rng = payload["rng"]
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    return int(payload["step"])
