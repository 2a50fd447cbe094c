"""The ONNX Runtime encoder: what runs is what is reported, rows are unit vectors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import BundleError, Precision
from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder, resolve_providers


def test_encodes_both_towers_to_unit_rows(
    tiny_bundle_dir: Path, italian_sentences: list[str]
) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    encoder = OnnxRuntimeEncoder(bundle, intra_op_threads=1)
    tokens = bundle.tokenizer()(italian_sentences[:3])
    text = encoder.encode_text(tokens["input_ids"], tokens["attention_mask"])
    size = bundle.manifest.image.crop_size
    images = encoder.encode_images(np.random.default_rng(0).normal(size=(2, 3, size, size)))
    assert text.shape == (3, 16) and images.shape == (2, 16) and text.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert encoder.info.active_providers == ["CPUExecutionProvider"]


def test_unavailable_gpu_providers_fall_back_to_cpu_and_say_so(
    tiny_bundle_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requested = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    with caplog.at_level(logging.WARNING, logger="sguardo.encoders"):
        encoder = OnnxRuntimeEncoder(Bundle.load(tiny_bundle_dir), providers=requested)
    assert encoder.info.requested_providers == requested
    assert encoder.info.active_providers == ["CPUExecutionProvider"]
    assert "not active" in caplog.text or "not available" in caplog.text


def test_cpu_is_always_kept_as_the_last_resort() -> None:
    assert resolve_providers(["CUDAExecutionProvider"])[-1] == "CPUExecutionProvider"


def test_fp16_variant_runs_and_a_missing_variant_is_a_bundle_error(tiny_bundle_dir: Path) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    size = bundle.manifest.image.crop_size
    pixels = np.random.default_rng(1).normal(size=(1, 3, size, size)).astype(np.float32)
    others: tuple[Precision, ...] = ("fp16", "int8")
    missing = [p for p in others if p not in bundle.manifest.variants]
    present = [p for p in others if p in bundle.manifest.variants]
    for precision in present:
        fp32 = OnnxRuntimeEncoder(bundle).encode_images(pixels)
        other = OnnxRuntimeEncoder(bundle, precision=precision).encode_images(pixels)
        assert float((fp32 * other).sum()) > 0.99
    for precision in missing:
        with pytest.raises(BundleError, match=r"no \w+ variant"):
            OnnxRuntimeEncoder(bundle, precision=precision)


def test_the_dense_graph_runs_when_the_bundle_has_one(
    tiny_bundle_dir: Path, cnn_bundle_dir: Path
) -> None:
    from sguardo.service.encoders.base import EncoderError, dense_encoder

    without = OnnxRuntimeEncoder(Bundle.load(tiny_bundle_dir), intra_op_threads=1)
    assert not without.has_dense and dense_encoder(without) is None
    with pytest.raises(EncoderError, match="no dense vision graph"):
        without.encode_dense(np.zeros((1, 3, 64, 64), np.float32))
    encoder = OnnxRuntimeEncoder(Bundle.load(cnn_bundle_dir), intra_op_threads=1)
    assert dense_encoder(encoder) is encoder
    pixels = np.random.default_rng(0).normal(size=(1, 3, 200, 330)).astype(np.float32)
    assert encoder.encode_dense(pixels).shape == (1, 7, 11, 16)
