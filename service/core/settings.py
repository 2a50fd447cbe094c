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
    """What one request may carry; beyond these the service answers 413."""

    max_items_per_request: int = Field(64, ge=1)
    max_text_chars: int = Field(1000, ge=1)
    max_image_bytes: int = Field(10_000_000, ge=1)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_labels: int = Field(100, ge=1)

    @property
    def max_request_bytes(self) -> int:
        # base64 inflates by 4/3; leave room for form fields and metadata.
        return self.max_items_per_request * (self.max_image_bytes * 4 // 3 + 64_000) + 1_000_000


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
    max_queue: int = Field(1024, ge=1, description="items waiting per tower before 503")

    # Vector store
    store_kind: Literal["embedded", "qdrant"] = "embedded"
    store_path: Path = Field(default_factory=lambda: paths.cache_dir() / "store")
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_prefer_grpc: bool = True
    collection: str = "images"

    # Access
    api_key: str | None = None
    protect_reads: bool = False

    limits: Limits = Field(default_factory=Limits)
    demo_gallery: bool = Field(True, description="at start-up, index the demo photos if empty")
    thumbnail_size: int = Field(192, ge=16, le=1024)

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
