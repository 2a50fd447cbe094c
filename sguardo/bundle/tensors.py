"""Tensor names of the bundle's ONNX graphs: what the exporter writes, the tokenizer returns and
every encoder feeds.

The output is not called "embedding": the ONNX exporter names one of its own values that.
"""

from __future__ import annotations

INPUT_IDS = "input_ids"  # int64 [batch, sequence]
ATTENTION_MASK = "attention_mask"  # int64 [batch, sequence]
PIXEL_VALUES = "pixel_values"  # float32 [batch, 3, crop, crop]
OUTPUT = "l2_embedding"  # float32 [batch, embedding_dim], L2-normalised

TEXT_INPUTS = (INPUT_IDS, ATTENTION_MASK)
VISION_INPUTS = (PIXEL_VALUES,)
