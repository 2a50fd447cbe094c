"""Training configuration: one pydantic model, read from YAML/JSON, overridden with
`--set key=value` (dotted keys, values parsed as YAML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sguardo.model.config import PRESETS, DualEncoderConfig
from sguardo.model.demo_model import DEMO_PRESET
from sguardo.model.train.optim import OptimizerName


class DataSource(BaseModel):
    """One training source. `kind` picks the reader:
    jsonl (path, images) · coco (path = captions JSON, images) · labelled (path = labels TSV,
    images, templates, split, columns) · yolo (images, path = labels dir, classes) ·
    webdataset (path = shard pattern, e.g. `shards/{0000..0099}.tar`)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["jsonl", "coco", "labelled", "yolo", "webdataset"]
    path: str
    images: str | None = None
    templates: str | None = None
    classes: str | None = None
    split: str | None = None
    id_column: str = "wnid"
    label_column: str = "italian"
    split_column: str = "split"


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Architecture: a preset name, or a full DualEncoderConfig; `init_from` a saved model.
    preset: str | None = DEMO_PRESET
    model: DualEncoderConfig | None = None
    init_from: str | None = None
    data: list[DataSource] = Field(default_factory=list)
    output_dir: str = "runs/train"

    # Caption cleaning (clip-italian's WIT filter) and augmentation.
    clean_captions: bool = True
    min_caption_words: int = 1
    max_caption_words: int = 60
    augment: bool = True

    # Optimisation. `batch_size` is the global batch (split across ranks), per optimiser step
    # it is batch_size × grad_accum_steps samples; negatives come from one micro-batch.
    batch_size: int = Field(64, ge=2)
    grad_accum_steps: int = Field(1, ge=1)
    epochs: int = Field(1, ge=1)
    max_steps: int | None = None
    steps_per_epoch: int | None = None  # required for streamed (webdataset) data
    optimizer: OptimizerName = "adabelief"
    lr: float = 1e-3
    backbone_lr: float = 1e-5
    weight_decay: float | None = None  # default: 0 for adabelief (clip-italian), 0.1 for adamw
    agc_clip: float | None = 0.01  # adaptive gradient clipping; None: off
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0

    # Freezing: the first `projection_steps` steps train only the projections; then both
    # towers are unfrozen unless locked (LiT-style). Locking both = projections only.
    projection_steps: int = 0
    lock_text: bool = False
    lock_image: bool = False
    # Keep unfrozen towers in eval mode (no dropout, frozen BatchNorm statistics).
    deterministic_backbones: bool = False

    # Machinery.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    grad_checkpointing: bool = False
    seed: int = 0
    num_workers: int = 0
    device: str | None = None  # default: cuda when available
    log_every: int = 10
    save_every: int = 500
    keep_checkpoints: int = 2
    tensorboard: bool = True
    progress: bool = True
    resume: str | None = None  # a checkpoint file, or "latest" (in output_dir)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.model is None and self.preset is None and self.init_from is None:
            raise ValueError("give one of preset, model or init_from")
        if self.preset is not None and self.model is None and self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        return self

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.0 if self.optimizer == "adabelief" else 0.1

    def model_config_resolved(self) -> DualEncoderConfig:
        if self.model is not None:
            return self.model
        assert self.preset is not None
        return PRESETS[self.preset]


def _set_dotted(target: dict, key: str, value: object) -> None:
    """`a.b.c=value`; a numeric part indexes a list (`data.0.images=...`)."""
    node: Any = target
    *parents, last = key.split(".")
    for part in parents:
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def load_train_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Config file (YAML or JSON) + `key=value` overrides; values are YAML (`lr=3e-4`,
    `lock_text=true`, `data=[{kind: jsonl, path: x.jsonl}]`)."""
    import yaml

    raw: dict = {}
    if path is not None:
        text = Path(path).read_text()
        raw = json.loads(text) if str(path).endswith(".json") else (yaml.safe_load(text) or {})
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        _set_dotted(raw, key.strip(), yaml.safe_load(value))
    if "model" in raw and raw["model"] is not None and "preset" not in raw:
        raw["preset"] = None
    return TrainConfig.model_validate(raw)
