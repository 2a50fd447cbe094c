"""A fused text graph: ONNX Runtime's transformer optimizer on a BERT-family text tower.

Why not the dynamo export: it writes attention as `scaled_dot_product_attention`'s
decomposition (MatMul/Softmax with IsNaN/Where guards), which matches none of ONNX Runtime's
fusion patterns, so `optimize_model(model_type="bert")` fuses 12 BiasGelu and nothing else.
Exported with eager attention through the TorchScript exporter, the same weights give the
patterns the optimizer knows: one `Attention` per layer, `SkipLayerNormalization`,
`EmbedLayerNormalization`, `BiasGelu`. The result is checked by the parity gate like any
other graph.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from onnxruntime.transformers.fusion_options import FusionOptions
from onnxruntime.transformers.optimizer import optimize_model

log = logging.getLogger(__name__)

# Hugging Face model types whose layers ONNX Runtime's "bert" optimizer fuses.
FUSABLE_MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra"})
TORCHSCRIPT_OPSET = 17  # the highest the optimizer's patterns are tested with


def fusable(encoder: torch.nn.Module) -> bool:
    config = getattr(encoder, "config", None)
    return getattr(config, "model_type", None) in FUSABLE_MODEL_TYPES


@contextmanager
def eager_attention(encoder: torch.nn.Module) -> Iterator[None]:
    """Attention written out as MatMul/Softmax (what the optimizer's patterns match) for the
    duration, then the encoder's own implementation back."""
    config: Any = encoder.config
    before = config._attn_implementation
    encoder.set_attn_implementation("eager")  # type: ignore[operator]
    try:
        yield
    finally:
        encoder.set_attn_implementation(before)  # type: ignore[operator]


def export_fused_text(
    module: torch.nn.Module,
    encoder: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    names: tuple[str, ...],
    output: str,
    path: Path,
) -> dict[str, int]:
    """Write `path`: `module` (whose text backbone is `encoder`) exported and fused.
    Returns the fused operator counts."""
    config: Any = encoder.config
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {output: {0: "batch"}}
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "text.onnx"
        with eager_attention(encoder), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                args,
                str(plain),
                input_names=list(names),
                output_names=[output],
                dynamic_axes=axes,
                opset_version=TORCHSCRIPT_OPSET,
                dynamo=False,
            )
        options = FusionOptions("bert")
        # Keep the graph's 2-D mask: the 1-D "sequence length" form assumes right padding,
        # and a bundle's callers may pad either way.
        options.use_raw_attention_mask(True)
        fused = optimize_model(
            str(plain),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            optimization_options=options,
        )
    counts = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    log.info("fused text graph: %s", counts)
    if counts.get("Attention", 0) < int(config.num_hidden_layers):
        log.warning(
            "only %d of %d attention layers fused",
            counts.get("Attention", 0),
            config.num_hidden_layers,
        )
    fused.save_model_to_file(str(path))
    return counts
