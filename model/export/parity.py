"""The parity gate: ONNX Runtime must reproduce PyTorch's embeddings on real inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from sguardo.bundle.manifest import Precision, Tower, TowerParity
from sguardo.bundle.tensors import PIXEL_VALUES

# Batch sizes for the check: none equals the export's example batch, so a shape baked
# into the graph by mistake fails here.
PARITY_BATCH_SIZES = (1, 3, 5)
THRESHOLDS: dict[Precision, float] = {"fp32": 0.9999, "fp16": 0.999, "int8": 0.99}


class ParityError(RuntimeError):
    """The exported graph does not reproduce the PyTorch model closely enough."""


def run_in_batches(
    session: ort.InferenceSession,
    make_feed: Callable[[slice], dict[str, np.ndarray]],
    rows: int,
    batch_sizes: Sequence[int],
) -> np.ndarray:
    """Embed `rows` items, cycling through `batch_sizes` so every size is exercised."""
    outputs, start, i = [], 0, 0
    while start < rows:
        size = batch_sizes[i % len(batch_sizes)]
        outputs.append(session.run(None, make_feed(slice(start, start + size)))[0])
        start, i = start + size, i + 1
    return np.concatenate(outputs).astype(np.float32)


def compare(
    reference: np.ndarray, candidate: np.ndarray, threshold: float, batch_sizes: Sequence[int]
) -> TowerParity:
    ref = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cand = candidate / np.linalg.norm(candidate, axis=1, keepdims=True)
    cosine = (ref * cand).sum(axis=1)
    return TowerParity(
        min_cosine=float(cosine.min()),
        mean_cosine=float(cosine.mean()),
        max_abs_diff=float(np.abs(reference - candidate).max()),
        batch_sizes=list(batch_sizes),
        rows=len(cosine),
        threshold=threshold,
    )


def check_tower(
    onnx_path: Path,
    tower: Tower,
    precision: Precision,
    reference: np.ndarray,
    make_feed: Callable[[slice], dict[str, np.ndarray]],
    batch_sizes: Sequence[int] = PARITY_BATCH_SIZES,
) -> TowerParity:
    """Compare one graph with the PyTorch reference; raise `ParityError` below the threshold."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    candidate = run_in_batches(session, make_feed, len(reference), batch_sizes)
    result = compare(reference, candidate, THRESHOLDS[precision], batch_sizes)
    if result.min_cosine < result.threshold:
        raise ParityError(
            f"{precision} {tower} tower fails the parity gate: worst row cosine "
            f"{result.min_cosine:.6f} < {result.threshold} (mean {result.mean_cosine:.6f}, "
            f"max |diff| {result.max_abs_diff:.2e}, {result.rows} real inputs, batch sizes "
            f"{list(batch_sizes)}). The bundle was not written."
        )
    return result


def check_dense(
    onnx_path: Path, reference: np.ndarray, inputs: Sequence[np.ndarray]
) -> TowerParity:
    """The dense vision graph against PyTorch: `reference` holds every location of every input
    (in order, rows × cols flattened) as one row; fp32's threshold."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rows = [session.run(None, {PIXEL_VALUES: x})[0] for x in inputs]
    candidate = np.concatenate([r.reshape(-1, r.shape[-1]) for r in rows]).astype(np.float32)
    result = compare(reference, candidate, THRESHOLDS["fp32"], [1])
    if result.min_cosine < result.threshold:
        raise ParityError(
            f"the dense vision graph fails the parity gate: worst location cosine "
            f"{result.min_cosine:.6f} < {result.threshold} over {result.rows} locations of "
            f"{len(inputs)} real inputs. The bundle was not written."
        )
    return result
