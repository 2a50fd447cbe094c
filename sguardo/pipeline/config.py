"""The pipeline's configuration: one pydantic model read from YAML (see
`example_config.yaml`). Relative paths are relative to the config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sguardo.model.train.config import DataSource


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """`existing`: the data earlier models were trained on; `new`: what arrived since (any
    `DataSource` kind but webdataset). Both are read every night: the candidate learns the new
    data without forgetting the old."""

    existing: list[DataSource] = Field(default_factory=list)
    new: list[DataSource] = Field(default_factory=list)
    incoming: Path | None = Field(
        None, description="a folder whose *.jsonl manifests are new data too (a drop box)"
    )
    clean_captions: bool = True
    min_caption_words: int = 1
    max_caption_words: int = 60


class TrainingConfig(_Strict):
    """`heads`: only the projections learn, on cached backbone features (cheap, the default);
    `full`: the trainer fine-tunes from the current checkpoint (`trainer` holds any
    `TrainConfig` field: epochs, lr, backbone_lr, lock_text, precision, ...)."""

    mode: Literal["heads", "full"] = "heads"
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=2)
    lr: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(10, ge=0)
    views: int = Field(1, ge=1, description="image crops per training image (heads mode)")
    seed: int = 0
    threads: int = Field(2, ge=1)
    feature_cache: Path | None = Field(
        None, description="backbone features kept between nights [default: <runs_dir>/features]"
    )
    trainer: dict[str, Any] = Field(default_factory=dict)


class ZeroShotSet(_Strict):
    labels: Path
    images: Path
    templates: Path
    split: str | None = None
    id_column: str = "wnid"
    label_column: str = "italian"
    split_column: str = "split"
    max_templates: int | None = Field(None, ge=1, description="the first N templates only")


class EvaluationConfig(_Strict):
    """Fixed sets: the candidate and the current bundle are measured on the same ones."""

    zeroshot: ZeroShotSet | None = None
    retrieval: DataSource | None = None
    captions_per_image: int | None = Field(1, ge=1)
    precision: Literal["fp32", "fp16", "int8"] = "fp32"

    @model_validator(mode="after")
    def _some_set(self) -> EvaluationConfig:
        if self.zeroshot is None and self.retrieval is None:
            raise ValueError("give at least one evaluation set: zeroshot or retrieval")
        return self


class GateConfig(_Strict):
    primary: str = "t2i_recall_at_10"
    tolerance: float = Field(0.02, ge=0, description="largest drop allowed on any metric")
    metrics: list[str] | None = Field(None, description="metrics checked [default: all]")


class StoreConfig(_Strict):
    """`direct`: the pipeline opens the store (a Qdrant server, or the embedded store while no
    service runs on it) and the originals itself; `service`: the running service reindexes
    and swaps through its admin API while the pipeline waits."""

    mode: Literal["direct", "service"] = "direct"
    alias: str = "images"
    batch_size: int = Field(32, ge=1, le=256)
    # direct
    kind: Literal["embedded", "qdrant"] = "embedded"
    path: Path | None = None
    url: str | None = None
    api_key_env: str = "SGUARDO_QDRANT_API_KEY"
    originals: Path | None = None
    # service
    service_url: str = "http://127.0.0.1:8000"
    admin_token_env: str = "SGUARDO_ADMIN_TOKEN"
    poll_s: float = Field(2.0, gt=0)
    timeout_s: float = Field(6 * 3600, gt=0)

    @model_validator(mode="after")
    def _direct_needs(self) -> StoreConfig:
        if self.mode == "direct":
            if self.originals is None:
                raise ValueError("store.mode direct needs store.originals (the originals folder)")
            if self.kind == "embedded" and self.path is None:
                raise ValueError("store.kind embedded needs store.path")
            if self.kind == "qdrant" and not self.url:
                raise ValueError("store.kind qdrant needs store.url")
        return self


class ParityConfig(_Strict):
    images: Path | None = None
    captions: Path | None = None


class PipelineConfig(_Strict):
    registry: Path
    runs_dir: Path
    data: DataConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig
    gate: GateConfig = Field(default_factory=GateConfig)
    store: StoreConfig
    parity: ParityConfig = Field(default_factory=ParityConfig)
    pushgateway: str | None = Field(None, description="Pushgateway address, e.g. host:9091")
    keep_runs: int = Field(
        14, ge=1, description="earlier finished runs kept (each holds a candidate bundle)"
    )


PATH_KEYS = frozenset(
    {
        "registry",
        "runs_dir",
        "path",
        "images",
        "templates",
        "classes",
        "labels",
        "captions",
        "originals",
        "feature_cache",
        "incoming",
    }
)


def _absolute(raw: Any, base: Path) -> Any:
    if isinstance(raw, dict):
        out = {}
        for key, value in raw.items():
            if key in PATH_KEYS and isinstance(value, str) and "://" not in value:
                path = Path(value).expanduser()
                out[key] = str(path if path.is_absolute() else base / path)
            else:
                out[key] = _absolute(value, base)
        return out
    if isinstance(raw, list):
        return [_absolute(v, base) for v in raw]
    return raw


def load_config(path: Path) -> PipelineConfig:
    import yaml

    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a YAML mapping")
    trainer = (
        raw.get("training", {}).get("trainer") if isinstance(raw.get("training"), dict) else None
    )
    raw = _absolute(raw, Path(path).resolve().parent)
    if trainer is not None:
        raw["training"]["trainer"] = trainer  # TrainConfig overrides: passed as written
    return PipelineConfig.model_validate(raw)
