"""The fused text graph (issue 13, Speed item 1): ONNX Runtime's transformer optimizer fuses
every attention layer of a BERT-family text tower, and the result passes the parity gate."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from sguardo.bundle.loader import Bundle
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.export.bundle_export import ExportOptions, export_bundle
from sguardo.model.export.onnx_export import export_tower
from sguardo.model.export.parity_inputs import default_captions, default_images


def op_counts(path: Path) -> Counter[str]:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_the_text_graph_is_fused(tiny_bundle_dir: Path, tiny_model: DualEncoder) -> None:
    ops = op_counts(Bundle.load(tiny_bundle_dir).onnx_path("text"))
    layers = tiny_model.text_tower.encoder.config.num_hidden_layers
    assert ops["Attention"] == layers
    assert ops["SkipLayerNormalization"] == 2 * layers
    assert ops["EmbedLayerNormalization"] == 1
    assert "Softmax" not in ops and "IsNaN" not in ops


def test_fusion_leaves_sdpa_on_and_can_be_turned_off(
    tiny_model: DualEncoder, tmp_path: Path
) -> None:
    encoder = tiny_model.text_tower.encoder
    before = encoder.config._attn_implementation
    export_tower(tiny_model, "text", tmp_path / "plain.onnx", fuse=False)
    assert encoder.config._attn_implementation == before
    assert op_counts(tmp_path / "plain.onnx")["Attention"] == 0


def test_a_left_padded_mask_gives_the_same_vectors(
    tiny_bundle_dir: Path, italian_sentences: list[str]
) -> None:
    """The fused graph keeps the 2-D mask: padding on either side is masked."""
    bundle = Bundle.load(tiny_bundle_dir)
    session = ort.InferenceSession(str(bundle.onnx_path("text")))
    feed = bundle.tokenizer()(italian_sentences[:4])
    ids, mask = feed["input_ids"], feed["attention_mask"]
    right = session.run(None, feed)[0]
    left_ids, left_mask = np.zeros_like(ids), np.zeros_like(mask)
    for i, n in enumerate(mask.sum(axis=1)):
        left_ids[i] = np.roll(ids[i], ids.shape[1] - n)
        left_mask[i, ids.shape[1] - n :] = 1
    # Position ids follow the token's index, so only the attention is compared: a row with no
    # padding must not change, whatever its batch mates' padding.
    full = mask.sum(axis=1) == ids.shape[1]
    left = session.run(None, {"input_ids": left_ids, "attention_mask": left_mask})[0]
    np.testing.assert_allclose(left[full], right[full], atol=1e-5)


def test_the_fused_graph_quantises_and_passes_the_int8_gate(
    tiny_model: DualEncoder, tmp_path: Path
) -> None:
    result = export_bundle(
        tiny_model,
        tmp_path / "b",
        default_captions(),
        default_images(),
        ExportOptions(int8=True, progress=False),
    )
    assert result.manifest.parity["int8"]["text"].min_cosine >= 0.99
    assert op_counts(tmp_path / "b" / "text.int8.onnx")["Attention"] == 0  # now QAttention
