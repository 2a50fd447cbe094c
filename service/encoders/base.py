"""The encoder port: two towers in, L2-normalised rows out. Adapters: ONNX Runtime, Triton."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


class EncoderError(Exception):
    """The encoder backend cannot be set up or did not answer; the message says why."""


class EncoderUnavailableError(EncoderError):
    """A remote encoder (Triton) is not reachable now; it reconnects by itself (API: 503 +
    Retry-After). The message is for clients: no addresses, the log has the details."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class EncoderInfo:
    backend: str  # "onnxruntime" | "triton"
    # What really runs, not what was asked for: onnxruntime-gpu silently falls back to CPU.
    active_providers: list[str] = field(default_factory=list)
    requested_providers: list[str] = field(default_factory=list)
    target: str = ""  # Triton URL, or the ONNX files

    @property
    def providers_label(self) -> str:
        return ",".join(self.active_providers) or self.backend


class Encoder(Protocol):
    info: EncoderInfo

    @property
    def ready(self) -> bool:
        """False while a remote backend is unreachable (/readyz says so); local ones: always."""
        ...

    def encode_text(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """int64 (batch, seq) ids and mask → float32 (batch, dim), unit rows."""
        ...

    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        """float32 (batch, 3, H, W) → float32 (batch, dim), unit rows."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DenseEncoder(Protocol):
    """An encoder that can also run the bundle's dense vision graph (POST /localize's feature
    map). Only the in-process ONNX Runtime adapter can: Triton serves the two towers alone."""

    @property
    def has_dense(self) -> bool:
        """False when the bundle has no dense graph (a ViT's pooled token is not a mean)."""
        ...

    def encode_dense(self, pixel_values: np.ndarray) -> np.ndarray:
        """float32 (1, 3, H, W), any H, W ≥ the graph's min_side → (1, rows, cols, dim)."""
        ...


def dense_encoder(encoder: object) -> DenseEncoder | None:
    """`encoder` as a DenseEncoder, or None when it cannot run a dense graph."""
    return encoder if isinstance(encoder, DenseEncoder) and encoder.has_dense else None
