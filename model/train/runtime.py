"""Process set-up for training: seeds, device, torchrun's process group, resumable sampling."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from sguardo.model.train.config import TrainConfig


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; initialises the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def pick_device(config: TrainConfig) -> torch.device:
    if config.device:
        return torch.device(config.device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


class SkipSampler(torch.utils.data.Sampler[int]):
    """A DistributedSampler's epoch order minus the first `skip` indices (resume mid-epoch)."""

    def __init__(self, inner: DistributedSampler, skip: int):
        self.inner, self.skip = inner, skip

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.inner)[self.skip :])

    def __len__(self) -> int:
        return len(self.inner) - self.skip
