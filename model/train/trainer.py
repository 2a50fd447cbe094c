"""The training loop. One process or many under torchrun (DDP; gloo on CPU, nccl on GPU)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from sguardo.model.data.augment import TrainAugment
from sguardo.model.data.dataset import Collate, ImageCaptionDataset, ShardStream
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.train import checkpoint as ckpt
from sguardo.model.train.config import TrainConfig
from sguardo.model.train.freezing import (
    apply_phase,
    enable_gradient_checkpointing,
    trainable_towers,
)
from sguardo.model.train.loss import contrastive_loss
from sguardo.model.train.optim import adaptive_clip_grad_, build_optimizer, warmup_cosine
from sguardo.model.train.progress import TrainProgress
from sguardo.model.train.runtime import SkipSampler, init_distributed, pick_device, seed_everything
from sguardo.model.train.sources import training_records

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: DualEncoder
    output_dir: Path
    steps: int
    losses: list[float] = field(default_factory=list)
    skipped_images: int = 0
    seconds: float = 0.0


def build_model(config: TrainConfig) -> DualEncoder:
    if config.init_from:
        return DualEncoder.load(config.init_from)
    return DualEncoder.from_config(config.model_config_resolved())


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.device = pick_device(config)
        self.rank, self.world = init_distributed(self.device)
        if config.batch_size % self.world:
            raise ValueError(
                f"batch_size {config.batch_size} is not divisible by {self.world} ranks"
            )
        self.local_batch = config.batch_size // self.world
        self.output_dir = Path(config.output_dir)
        self.checkpoint_dir = self.output_dir / "checkpoints"
        seed_everything(config.seed)
        self.model = build_model(config).to(self.device)
        if config.grad_checkpointing:
            log.info("gradient checkpointing: %s", enable_gradient_checkpointing(self.model))
        records, shards, self.cleaning = training_records(config)
        if self.cleaning is not None and self.rank == 0:
            log.info(
                "caption cleaning (%s): kept %d, dropped %s, images left without captions %d",
                self.cleaning.tagger,
                self.cleaning.kept,
                dict(self.cleaning.dropped),
                self.cleaning.images_without_captions,
            )
        if not records and not shards:
            raise ValueError("no training data: add `data` sources to the config")
        augment = TrainAugment(self.model.image_preprocessing) if config.augment else None
        self.collate = Collate(self.model.tokenizer)
        self.dataset: ImageCaptionDataset | ShardStream
        if shards:
            if config.steps_per_epoch is None:
                raise ValueError("streamed webdataset data needs steps_per_epoch")
            self.dataset = ShardStream(
                shards, self.model.image_preprocessor, augment, config.seed, self.rank, self.world
            )
            self.steps_per_epoch = config.steps_per_epoch
        else:
            self.dataset = ImageCaptionDataset(
                records, self.model.image_preprocessor, augment, config.seed
            )
            self.sampler: DistributedSampler = DistributedSampler(
                self.dataset, self.world, self.rank, shuffle=True, seed=config.seed, drop_last=True
            )
            batches = len(self.sampler) // self.local_batch
            self.steps_per_epoch = config.steps_per_epoch or batches // config.grad_accum_steps
            if self.steps_per_epoch < 1:
                raise ValueError(
                    f"{len(records)} images make no full batch of {config.batch_size}"
                    f" × {config.grad_accum_steps}: lower batch_size"
                )
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self.optimizer = build_optimizer(
            self.model, config.optimizer, config.lr, config.backbone_lr, config.decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            warmup_cosine(config.warmup_steps, self.total_steps, config.min_lr_ratio),
        )
        fp16 = config.precision == "fp16"
        if fp16 and self.device.type != "cuda":
            raise ValueError("fp16 needs a GPU; use precision=bf16 or fp32 on CPU")
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None
        self.backbones_train = self.total_steps > config.projection_steps and not (
            config.lock_text and config.lock_image
        )

    # -- data ---------------------------------------------------------------------------------

    def _batches(self, epoch: int, skip_steps: int) -> Iterator[dict[str, torch.Tensor]]:
        self.dataset.set_epoch(epoch)
        accum = self.config.grad_accum_steps
        if isinstance(self.dataset, ShardStream):
            loader = DataLoader(
                self.dataset,
                self.local_batch,
                collate_fn=self.collate,
                num_workers=self.config.num_workers,
            )
            stream = iter(loader)
            for _ in range(skip_steps * accum):
                next(stream)
            return stream
        self.sampler.set_epoch(epoch)
        sampler = SkipSampler(self.sampler, skip_steps * accum * self.local_batch)
        return iter(
            DataLoader(
                self.dataset,
                self.local_batch,
                sampler=sampler,
                collate_fn=self.collate,
                num_workers=self.config.num_workers,
                drop_last=True,
            )
        )

    # -- loop ---------------------------------------------------------------------------------

    def _wrap(self) -> torch.nn.Module:
        if self.world == 1:
            return self.model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=ids)

    def _autocast(self):
        if self.config.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def train(self) -> TrainResult:
        config, start = self.config, time.perf_counter()
        step = 0
        if config.resume:
            path = ckpt.resolve_checkpoint(config.resume, self.checkpoint_dir)
            if path is not None:
                step = ckpt.load_checkpoint(
                    path, self.model, self.optimizer, self.scheduler, self.scaler
                )
                log.info("resumed from %s at step %d", path, step)
        writer = self._tensorboard()
        result = TrainResult(self.model, self.output_dir, step)
        phase: tuple[bool, bool] | None = None
        wrapped: torch.nn.Module = self.model
        progress = TrainProgress(self.total_steps, step, enabled=config.progress and self.rank == 0)
        with progress:
            while step < self.total_steps:
                epoch, offset = divmod(step, self.steps_per_epoch)
                batches = self._batches(epoch, offset)
                for _ in range(offset, self.steps_per_epoch):
                    if step >= self.total_steps:
                        break
                    wanted = trainable_towers(
                        step, config.projection_steps, config.lock_text, config.lock_image
                    )
                    if wanted != phase:
                        apply_phase(self.model, *wanted, config.deterministic_backbones)
                        wrapped, phase = self._wrap(), wanted
                    loss, skipped = self._step(wrapped, batches)
                    step += 1
                    result.losses.append(loss)
                    result.skipped_images += skipped
                    progress.update(step, loss, epoch)
                    if writer is not None and (step % config.log_every == 0 or step == 1):
                        writer.add_scalar("train/loss", loss, step)
                        writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], step)
                    if step % config.save_every == 0 or step == self.total_steps:
                        self._save(step)
        result.steps, result.seconds = step, time.perf_counter() - start
        if self.rank == 0:
            self._finish(result)
        if writer is not None:
            writer.close()
        return result

    def _step(
        self, wrapped: torch.nn.Module, batches: Iterator[dict[str, torch.Tensor]]
    ) -> tuple[float, int]:
        config, accum = self.config, self.config.grad_accum_steps
        total, skipped = 0.0, 0
        for micro in range(accum):
            batch = next(batches)
            skipped += int(batch["skipped"])
            if int(batch["skipped"]):
                log.warning("%d unreadable image(s) skipped in this batch", int(batch["skipped"]))
            if batch["pixel_values"].numel() == 0:
                continue
            sync = micro == accum - 1 or not isinstance(wrapped, DistributedDataParallel)
            with nullcontext() if sync else wrapped.no_sync(), self._autocast():  # type: ignore[operator]
                images, texts, scale = wrapped(
                    batch["input_ids"].to(self.device),
                    batch["attention_mask"].to(self.device),
                    batch["pixel_values"].to(self.device),
                )
                loss = contrastive_loss(images.float(), texts.float(), scale.float()) / accum
            (self.scaler.scale(loss) if self.scaler else loss).backward()
            total += float(loss.detach())
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if config.agc_clip:
            adaptive_clip_grad_(
                [p for p in self.model.parameters() if p.requires_grad], config.agc_clip
            )
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, skipped

    # -- output -------------------------------------------------------------------------------

    def _tensorboard(self):
        if not self.config.tensorboard or self.rank != 0:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed: no TensorBoard logs")
            return None
        return SummaryWriter(str(self.output_dir / "tensorboard"))

    def _save(self, step: int) -> None:
        if self.rank == 0:
            ckpt.save_checkpoint(
                self.checkpoint_dir,
                step=step,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                scaler=self.scaler,
                heads_only=not self.backbones_train,
                keep=self.config.keep_checkpoints,
            )
        if self.world > 1:
            dist.barrier()

    def _finish(self, result: TrainResult) -> None:
        self.model.eval()
        self.model.cpu().save(self.output_dir / "model", heads_only=not self.backbones_train)
        self.model.to(self.device)
        report = {
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "final_loss": result.losses[-1] if result.losses else None,
            "skipped_images": result.skipped_images,
            "world_size": self.world,
            "backbones_trained": self.backbones_train,
            "caption_cleaning": self.cleaning.as_dict() if self.cleaning else None,
            "config": self.config.model_dump(mode="json"),
        }
        (self.output_dir / "train_report.json").write_text(json.dumps(report, indent=2) + "\n")


def train(config: TrainConfig) -> TrainResult:
    return Trainer(config).train()
