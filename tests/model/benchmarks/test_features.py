"""The offline benchmark's cached backbone features equal the PyTorch backbones' outputs."""

from pathlib import Path

import numpy as np
import torch

from sguardo.model.benchmarks.features import BackboneFeatures
from sguardo.model.dual_encoder import DualEncoder


def test_features_match_torch_and_are_cached(
    tiny_model: DualEncoder, tmp_path: Path, italian_sentences: list[str]
) -> None:
    features = BackboneFeatures(tiny_model, tmp_path / "work", tmp_path / "cache")
    (tmp_path / "work").mkdir()
    texts = italian_sentences[:5]
    batch = tiny_model.tokenize(texts)
    pixels = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected_text = tiny_model.text_tower(batch["input_ids"], batch["attention_mask"]).numpy()
        expected_image = tiny_model.vision_tower(torch.from_numpy(pixels)).numpy()

    got_text = features.texts("t", texts)
    got_image = features.images("i", ["a", "b", "c"], lambda i: pixels[i])
    assert np.allclose(got_text, expected_text, atol=1e-4)
    assert np.allclose(got_image, expected_image, atol=1e-4)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    # A second call reads the cache: no graph is needed any more.
    again = BackboneFeatures(tiny_model, tmp_path / "unused", tmp_path / "cache")
    assert np.array_equal(again.texts("t", texts), got_text)
