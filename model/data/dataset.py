"""The training dataset: one caption sampled per image per epoch, augmented pixels, and a
collate that tokenises and drops images that could not be read (counted, never a crash)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from sguardo.bundle.preprocessing import ImageDecodeError, ImagePreprocessor, TextTokenizer
from sguardo.model.data.augment import TrainAugment
from sguardo.model.data.records import ImageCaptions
from sguardo.model.data.webdataset import iter_shard

log = logging.getLogger(__name__)
Sample = tuple[np.ndarray, str] | None


def load_sample(
    record: ImageCaptions,
    rng: np.random.Generator,
    preprocessor: ImagePreprocessor,
    augment: TrainAugment | None,
) -> Sample:
    caption = record.captions[int(rng.integers(len(record.captions)))]
    try:
        image = preprocessor.decode(record.read_bytes())
        pixels = augment(image, rng) if augment is not None else preprocessor.to_array(image)
    except (OSError, ImageDecodeError) as exc:
        log.warning("skipped unreadable image %s: %s", record.image, exc)
        return None
    return pixels, caption


class ImageCaptionDataset(Dataset):
    """Map-style; randomness (caption choice, augmentation) is a function of (seed, epoch,
    index), so a resumed run and a multi-process run see exactly the same samples."""

    def __init__(
        self,
        records: Sequence[ImageCaptions],
        preprocessor: ImagePreprocessor,
        augment: TrainAugment | None = None,
        seed: int = 0,
    ):
        self.records = list(records)
        self.preprocessor = preprocessor
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return load_sample(self.records[index], rng, self.preprocessor, self.augment)


class ShardStream(IterableDataset):
    """WebDataset shards streamed without an index: shards are split across ranks and loader
    workers, their order reshuffled every epoch. The trainer bounds an epoch by step count."""

    def __init__(
        self,
        shards: Sequence[str],
        preprocessor: ImagePreprocessor,
        augment: TrainAugment | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.shards = list(shards)
        self.preprocessor, self.augment = preprocessor, augment
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[Sample]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.shards))
        mine = order[self.rank * workers + worker :: self.world_size * workers]
        if len(mine) == 0:
            mine = order[(self.rank * workers + worker) % len(order) :: len(order)]
        while True:  # cycle: every rank must be able to fill its batches
            for n, shard_index in enumerate(mine):
                for i, record in enumerate(iter_shard(self.shards[shard_index])):
                    rng = np.random.default_rng([self.seed, self.epoch, int(shard_index), i, n])
                    yield load_sample(record, rng, self.preprocessor, self.augment)


class Collate:
    """Stack pixels, tokenise captions; unreadable samples (None) are dropped and counted."""

    def __init__(self, tokenizer: TextTokenizer):
        self.tokenizer = tokenizer

    def __call__(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        good = [s for s in samples if s is not None]
        skipped = len(samples) - len(good)
        if not good:
            return {"skipped": torch.tensor(skipped), "pixel_values": torch.empty(0)}
        tokens = self.tokenizer([caption for _, caption in good])
        return {
            "pixel_values": torch.from_numpy(np.stack([pixels for pixels, _ in good])),
            "input_ids": torch.from_numpy(tokens["input_ids"]),
            "attention_mask": torch.from_numpy(tokens["attention_mask"]),
            "skipped": torch.tensor(skipped),
        }
