"""Tensor names of the bundle's ONNX graphs: what the exporter writes, the tokenizer returns and
every encoder feeds.

The output is not called "embedding": the ONNX exporter names one of its own values that.
"""

from __future__ import annotations

INPUT_IDS = "input_ids"  # int64 [batch, sequence]
ATTENTION_MASK = "attention_mask"  # int64 [batch, sequence]
PIXEL_VALUES = "pixel_values"  # float32 [batch, 3, crop, crop]
OUTPUT = "l2_embedding"  # float32 [batch, embedding_dim], L2-normalised
# The optional dense vision graph: pixel_values of any height and width in, per-location
# projections out, not normalised; their mean over rows × cols is the image's embedding
# before its L2 norm.
DENSE_OUTPUT = "dense_embedding"  # float32 [batch, rows, cols, embedding_dim]

TEXT_INPUTS = (INPUT_IDS, ATTENTION_MASK)
VISION_INPUTS = (PIXEL_VALUES,)
