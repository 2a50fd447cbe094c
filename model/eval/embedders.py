"""Two ways to embed for evaluation behind one interface: a torch `DualEncoder` (a training
checkpoint) and an exported bundle through ONNX Runtime (what the service will serve)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import Precision
from sguardo.bundle.preprocessing import ImagePreprocessor
from sguardo.bundle.tensors import PIXEL_VALUES

BATCH = 32


class Embedder(Protocol):
    """L2-normalised embeddings, one row per input."""

    name: str

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray: ...


def _batched(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class TorchEmbedder:
    def __init__(self, model, batch_size: int = BATCH, name: str = "torch"):  # model: DualEncoder
        self.model = model.eval()
        self.batch_size = batch_size
        self.name = name

    @classmethod
    def load(cls, directory: str | Path) -> TorchEmbedder:
        from sguardo.model.dual_encoder import DualEncoder

        return cls(DualEncoder.load(directory), name=str(directory))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = [
            self.model.embed_texts(list(chunk)).numpy()
            for chunk in _batched(texts, self.batch_size)
        ]
        return (
            np.concatenate(rows) if rows else np.zeros((0, self.model.config.embed_dim), np.float32)
        )

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        rows = [
            self.model.embed_images(list(chunk)).numpy()
            for chunk in _batched(images, self.batch_size)
        ]
        return (
            np.concatenate(rows) if rows else np.zeros((0, self.model.config.embed_dim), np.float32)
        )


class OnnxEmbedder:
    def __init__(self, bundle: Bundle, precision: Precision = "fp32", batch_size: int = BATCH):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self.text = ort.InferenceSession(
            str(bundle.onnx_path("text", precision)), options, providers=providers
        )
        self.vision = ort.InferenceSession(
            str(bundle.onnx_path("vision", precision)), options, providers=providers
        )
        self.tokenizer = bundle.tokenizer()
        self.preprocessor: ImagePreprocessor = bundle.image_preprocessor()
        self.batch_size = batch_size
        self.dim = bundle.manifest.embedding_dim
        self.name = f"{bundle.bundle_id} ({precision})"

    @classmethod
    def load(cls, directory: str | Path, precision: Precision = "fp32") -> OnnxEmbedder:
        return cls(Bundle.load(directory), precision)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = [
            self.text.run(None, self.tokenizer(list(chunk)))[0]
            for chunk in _batched(texts, self.batch_size)
        ]
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        rows = []
        for chunk in _batched(images, self.batch_size):
            pixels = self.preprocessor.batch([self.preprocessor.decode(b) for b in chunk])
            rows.append(self.vision.run(None, {PIXEL_VALUES: pixels})[0])
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)
