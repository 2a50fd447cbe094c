"""The dense vision graph: written for CNN towers only, gated against PyTorch, and true to the
bundle's contract: its locations' mean is the image embedding (before the L2 norm)."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import read_manifest
from sguardo.bundle.tensors import DENSE_OUTPUT, PIXEL_VALUES
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.export import bundle_export
from sguardo.model.export.bundle_export import ExportOptions, export_bundle
from sguardo.model.export.parity import ParityError
from sguardo.model.export.parity_inputs import default_captions, default_images


def test_a_vit_bundle_has_no_dense_graph(tiny_bundle_dir: Path) -> None:
    manifest = read_manifest(tiny_bundle_dir)
    assert manifest.dense_vision is None
    assert Bundle.load(tiny_bundle_dir).dense_vision_path is None
    assert not (tiny_bundle_dir / "vision_dense.onnx").exists()


def test_a_cnn_bundle_carries_a_gated_hashed_dense_graph(cnn_bundle_dir: Path) -> None:
    manifest = read_manifest(cnn_bundle_dir)  # verifies every hash, the dense graph's too
    dense = manifest.dense_vision
    assert dense is not None and dense.file in manifest.files
    assert (dense.min_side, dense.stride) == (32, 32)  # where /localize puts each location
    assert dense.parity is not None and dense.parity.min_cosine >= 0.9999
    # every location of every parity photo at the crop size (224 px: 7 × 7 locations) and
    # at 1.3 × 1.7 of it (291 × 381 px: 10 × 12)
    assert dense.parity.rows == len(default_images()) * (7 * 7 + 10 * 12)


def test_the_dense_mean_is_the_image_embedding_at_any_size(cnn_bundle_dir: Path) -> None:
    bundle = Bundle.load(cnn_bundle_dir)
    path = bundle.dense_vision_path
    assert path is not None
    dense = ort.InferenceSession(str(path))
    vision = ort.InferenceSession(str(bundle.onnx_path("vision")))
    pixels = bundle.image_preprocessor().batch(
        [bundle.image_preprocessor().decode(b) for b in default_images()[:2]]
    )
    maps = dense.run([DENSE_OUTPUT], {PIXEL_VALUES: pixels})[0]
    assert maps.shape == (2, 7, 7, 16)
    pooled = maps.mean(axis=(1, 2))
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    embedded = vision.run(None, {PIXEL_VALUES: pixels})[0]
    assert np.allclose(pooled, embedded, atol=1e-5)
    # whole photos of any shape, as /localize sends them
    for height, width in ((33, 97), (480, 640), (517, 389)):
        shaped = np.random.default_rng(0).standard_normal((1, 3, height, width), np.float32)
        out = dense.run([DENSE_OUTPUT], {PIXEL_VALUES: shaped})[0]
        assert out.shape == (1, -(-height // 32), -(-width // 32), 16)


def test_a_failing_dense_graph_writes_no_bundle(
    cnn_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = DualEncoder.load(cnn_bundle_dir / "checkpoint")
    other = DualEncoder.load(cnn_bundle_dir / "checkpoint")
    with torch.no_grad():
        other.visual_projection.weight.mul_(-1)  # another model: every location's vector flips

    def export_the_other(_: DualEncoder, path: Path) -> None:
        real_export_dense(other, path)

    real_export_dense = bundle_export.export_dense
    monkeypatch.setattr(bundle_export, "export_dense", export_the_other)
    target = tmp_path / "bundle"
    with pytest.raises(ParityError, match="dense vision graph fails the parity gate"):
        export_bundle(
            model,
            target,
            default_captions()[:4],
            default_images()[:3],
            ExportOptions(progress=False),
        )
    assert not target.exists()
    assert not list(tmp_path.iterdir())  # no temporary directory left behind
