"""All service configuration: one class, read from `SGUARDO_*` environment variables.

Nested fields use `__`: `SGUARDO_LIMITS__MAX_IMAGE_BYTES=5000000`. Lists are JSON:
`SGUARDO_EXECUTION_PROVIDERS='["CUDAExecutionProvider","CPUExecutionProvider"]'`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sguardo.bundle import paths


class Limits(BaseModel):
    """What one request may carry; beyond these the service answers 413 (see the README's
    limits table). Together they bound the memory one request can make the service use."""

    max_items_per_request: int = Field(64, ge=1)
    max_text_chars: int = Field(1000, ge=1)
    max_image_bytes: int = Field(10_000_000, ge=1)
    max_image_pixels: int = Field(40_000_000, ge=1)
    # Pixels alone understate memory: a 16-bit RGBA PNG decodes to more bytes per pixel than
    # an RGB JPEG, and a palette image is expanded to RGB. 120 MB is a 40 MP RGB photo.
    max_decoded_bytes: int = Field(120_000_000, ge=1)
    max_labels: int = Field(100, ge=1)
    # The whole body, as it streams in. Routes that carry one image get less: one image in
    # base64 and 1 MB of fields (see service/api/middleware.py).
    max_request_bytes: int = Field(48_000_000, ge=1)


class LocalizeSettings(BaseModel):
    """POST /localize and `sguardo localize`: the crops each request may cost."""

    scales: list[float] = Field(
        default_factory=lambda: [0.2, 0.3, 0.4, 0.5],
        description="window sides as fractions of the image's short side (measured best on "
        "coco128 train2017; see loadtests/bench_localize.py)",
    )
    overlap: float = Field(0.5, ge=0, lt=1, description="fraction shared by neighbouring windows")
    max_crops: int = Field(
        256, ge=1, description="crops per request (one batch); smaller scales go first"
    )
    max_phrases: int = Field(8, ge=1)
    grid_cells: int = Field(32, ge=2, le=256, description="heatmap cells along the long side")
    max_side: int = Field(1024, ge=64, description="crops come from a copy at most this big")
    dense_sides: list[int] = Field(
        default_factory=lambda: [384, 512, 640, 768],
        description="short sides (px) the whole photo runs at through the bundle's dense vision "
        "graph, each also mirrored; the long side stays within max_side. [] or a bundle "
        "without a dense graph: crops alone",
    )
    dense_weight: float = Field(
        0.5, ge=0, le=1, description="the dense map's share of the heatmap, the crops' the rest"
    )
    smoothing: float = Field(
        1.0, ge=0, le=8, description="Gaussian blur of the maps, in cells (with a dense map)"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SGUARDO_", env_nested_delimiter="__", extra="ignore"
    )

    # The model
    bundle_path: Path = Field(default_factory=paths.demo_bundle_dir)
    precision: Literal["fp32", "int8", "fp16"] = "fp32"

    # Inference
    encoder_backend: Literal["onnxruntime", "triton"] = "onnxruntime"
    execution_providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    intra_op_threads: int = Field(0, ge=0, description="0: ONNX Runtime picks")
    intra_op_spinning: bool = Field(False, description="let idle ONNX Runtime threads spin")
    trt_engine_cache_dir: Path = Field(
        default_factory=lambda: paths.cache_dir() / "trt-cache",
        description="TensorRT execution provider: built engines are kept here (minutes to build)",
    )
    triton_url: str = "127.0.0.1:8000"
    triton_protocol: Literal["http", "grpc"] = "http"
    triton_text_model: str = "sguardo_text"
    triton_vision_model: str = "sguardo_vision"
    triton_timeout_s: float = 30.0

    # Dynamic batching (max_batch_size=1 turns it off)
    max_batch_size: int = Field(32, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)
    max_queue: int = Field(
        1024, ge=1, description="items waiting per tower (images: decoding included) before 503"
    )
    decode_threads: int = Field(
        2, ge=1, description="images decoded at once: each holds up to max_decoded_bytes"
    )

    # Vector store
    store_kind: Literal["embedded", "qdrant"] = "embedded"
    store_path: Path = Field(default_factory=lambda: paths.cache_dir() / "store")
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_prefer_grpc: bool = True
    collection: str = "images"
    originals_path: Path = Field(
        default_factory=lambda: paths.cache_dir() / "originals",
        description="every indexed image's original bytes (a new model re-embeds from them); "
        "a persistent volume in production",
    )
    registry_path: Path = Field(
        default_factory=paths.registry_dir,
        description="the bundle registry (`sguardo bundle add|promote|rollback`); serve its "
        "current bundle with SGUARDO_BUNDLE_PATH=<registry>/current",
    )

    # Model rollout (see the README's "Retraining and model rollout")
    reload_poll_s: float = Field(
        5.0,
        ge=0,
        description="how often to look for a new current bundle and a swapped alias; 0: only "
        "when POST /admin/reload asks",
    )

    # Access
    api_key: str | None = None
    admin_token: str | None = Field(
        None,
        description="bearer token of the /admin endpoints (reload, reindex, swap); unset: they "
        "answer 403",
    )
    protect_reads: bool = False
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="origins (https://host:port) allowed to POST/DELETE from a browser "
        "besides the service's own; other cross-origin writes get 403",
    )

    limits: Limits = Field(default_factory=Limits)
    localize: LocalizeSettings = Field(default_factory=LocalizeSettings)
    demo_gallery: bool = Field(True, description="at start-up, index the demo photos if empty")
    thumbnail_size: int = Field(192, ge=16, le=1024)

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
