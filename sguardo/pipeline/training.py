"""Step 3: train the candidate from the current bundle's checkpoint.

`heads` mode (the default) is the demo model's recipe: the backbones stay as they are, their
features are computed once per image/caption (PyTorch, batched; cached in the run directory
so a resumed run does not compute them again) and only the projection heads train, from the
current heads, with `model.train.heads` (the trainer's loss, optimiser and schedule). `full`
mode runs the trainer itself (`model.train.trainer`, resumable from its own checkpoints).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from sguardo.bundle.manifest import BundleError
from sguardo.bundle.manifest import read_manifest as read_bundle_manifest
from sguardo.model.data.augment import TrainAugment
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.train.heads import HeadTrainingConfig, train_heads_on_features
from sguardo.pipeline.config import TrainingConfig
from sguardo.pipeline.data import read_records

log = logging.getLogger(__name__)
BATCH = 32
CheckpointKind = Literal["heads", "full"]


def checkpoint_dir(bundle_dir: Path) -> Path:
    manifest = read_bundle_manifest(bundle_dir, verify_hashes=False)
    if manifest.checkpoint is None:
        raise BundleError(
            f"bundle {bundle_dir} carries no training checkpoint, so nothing can be trained "
            "from it: export it again with this version (`sguardo export --model DIR`), add "
            "it to the registry and promote it"
        )
    return bundle_dir / manifest.checkpoint


def checkpoint_kind(directory: Path, mode: str) -> CheckpointKind:
    """Full when the backbones train, or when the parent's backbones were already trained
    (saved in its checkpoint): heads alone would lose them."""
    saved = (directory / "text").is_dir() or (directory / "vision").is_dir()
    return "full" if mode == "full" or saved else "heads"


class FeatureCache:
    """Backbone features of one parent model, computed in batches and kept as .npy files."""

    def __init__(self, model: DualEncoder, directory: Path, key: str, threads: int) -> None:
        self.model = model
        self.directory = directory
        self.key = key
        torch.set_num_threads(threads)

    def _cached(self, name: str, identity: Sequence[str], compute: Callable[[], np.ndarray]):
        digest = hashlib.sha256("\n".join([self.key, *identity]).encode()).hexdigest()[:16]
        path = self.directory / f"{name}-{digest}.npy"
        if path.is_file():
            return np.load(path)
        features = compute()
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp.npy")
        np.save(temp, features)
        temp.replace(path)
        return features

    @torch.no_grad()
    def texts(self, name: str, texts: Sequence[str]) -> np.ndarray:
        def compute() -> np.ndarray:
            # Batches of similar length pad little (captions run from 3 words to 60).
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            out = np.zeros((len(texts), self.model.text_tower.hidden_size), np.float32)
            for start in range(0, len(order), BATCH):
                chunk = order[start : start + BATCH]
                batch = self.model.tokenize([texts[i] for i in chunk])
                rows = self.model.text_tower(batch["input_ids"], batch["attention_mask"])
                out[chunk] = rows.float().numpy()
            return out

        return self._cached(name, texts, compute)

    @torch.no_grad()
    def images(
        self, name: str, identity: Sequence[str], pixels: Callable[[int], np.ndarray]
    ) -> np.ndarray:
        def compute() -> np.ndarray:
            rows = []
            for start in range(0, len(identity), BATCH):
                stop = min(start + BATCH, len(identity))
                batch = torch.from_numpy(np.stack([pixels(i) for i in range(start, stop)]))
                rows.append(self.model.vision_tower(batch))
            return torch.cat(rows).float().numpy()

        return self._cached(name, identity, compute)


def train_heads(
    model: DualEncoder, data: Path, config: TrainingConfig, cache: FeatureCache
) -> dict:
    records = [record for record, _ in read_records(data)]
    images = [Path(r.image) for r in records]
    preprocessor = model.image_preprocessor
    augment = TrainAugment(model.image_preprocessing)

    def view(i: int) -> np.ndarray:
        image, v = divmod(i, config.views)
        decoded = preprocessor.decode(images[image].read_bytes())
        if v == 0:
            return preprocessor.to_array(decoded)
        return augment(decoded, np.random.default_rng([config.seed, image, v]))

    identity = [f"{p}#{p.stat().st_size}#view{v}" for p in images for v in range(config.views)]
    views = cache.images("views", identity, view).reshape(len(images), config.views, -1)
    flat = [c for r in records for c in r.captions]
    text = cache.texts("captions", flat)
    bounds = np.cumsum([0] + [len(r.captions) for r in records])
    captions = [text[a:b] for a, b in itertools.pairwise(bounds)]
    heads = HeadTrainingConfig(
        epochs=config.epochs,
        batch_size=min(config.batch_size, len(records)),
        lr=config.lr,
        warmup_steps=config.warmup_steps,
        seed=config.seed,
    )
    result = train_heads_on_features(model, views, captions, heads)
    return {
        "mode": "heads",
        "images": len(records),
        "captions": len(flat),
        "steps": result.steps,
        "epoch_losses": [round(x, 4) for x in result.losses],
    }


def train_full(checkpoint: Path, data: Path, config: TrainingConfig, output: Path) -> tuple:
    from sguardo.model.train.config import TrainConfig
    from sguardo.model.train.trainer import train

    settings = {
        "init_from": str(checkpoint),
        "data": [{"kind": "jsonl", "path": str(data), "images": "/"}],
        "clean_captions": False,  # the pipeline's clean step did it
        "output_dir": str(output),
        "resume": "latest",
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "warmup_steps": config.warmup_steps,
        "seed": config.seed,
        "progress": False,
        "tensorboard": False,
        **config.trainer,
    }
    result = train(TrainConfig.model_validate(settings))
    summary = {
        "mode": "full",
        "steps": result.steps,
        "final_loss": result.losses[-1] if result.losses else None,
        "skipped_images": result.skipped_images,
    }
    return result.model, summary


def train_candidate(
    parent_bundle: Path, data: Path, config: TrainingConfig, run_dir: Path, parent_id: str
) -> dict:
    """Train and save the candidate to `<run_dir>/model` (what the export step loads)."""
    source = checkpoint_dir(parent_bundle)
    kind = checkpoint_kind(source, config.mode)
    if config.mode == "full":
        model, summary = train_full(source, data, config, run_dir / "train")
    else:
        model = DualEncoder.load(source)
        cache_root = config.feature_cache or run_dir / "features"
        cache = FeatureCache(model, cache_root / parent_id, parent_id, config.threads)
        summary = train_heads(model, data, config, cache)
    target = run_dir / "model"
    model.eval().cpu().save(target, heads_only=kind == "heads")
    (target / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary | {"checkpoint": kind, "model_dir": str(target)}
