"""Export one tower of a dual encoder to ONNX, with dynamic batch (and sequence) axes."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from sguardo.bundle.manifest import Tower
from sguardo.bundle.tensors import DENSE_OUTPUT, OUTPUT, TEXT_INPUTS, VISION_INPUTS
from sguardo.model.dual_encoder import DualEncoder
from sguardo.model.export.fusion import export_fused_text, fusable

OPSET = 18
EXPORT_BATCH = 2  # parity is checked at other batch sizes, so a baked-in batch would show


def example_inputs(model: DualEncoder, tower: Tower) -> tuple[torch.Tensor, ...]:
    if tower == "text":
        batch = model.tokenize(["un esempio per l'esportazione", "due parole"])
        return batch["input_ids"], batch["attention_mask"]
    size = model.image_preprocessing.crop_size
    return (torch.randn(EXPORT_BATCH, 3, size, size),)


def export_tower(
    model: DualEncoder,
    tower: Tower,
    path: Path,
    *,
    backbone_only: bool = False,
    opset: int = OPSET,
    fuse: bool = True,
) -> None:
    """Write `path`: inputs as the bundle names them, output `tensors.OUTPUT`, L2-normalised.

    `backbone_only` exports the bare backbone (pooled features, before projection), as the
    offline benchmark caches them for training heads on frozen towers. `fuse`: a BERT-family
    text tower goes through ONNX Runtime's transformer optimizer (see `fusion`): 1.1-1.5x
    faster on multilingual-e5-small (`loadtests/bench_text_engine.py`).
    """
    module: torch.nn.Module
    if backbone_only:
        module = model.text_tower if tower == "text" else model.vision_tower
    else:
        module = model.tower_module(tower)
    module.eval()
    args = example_inputs(model, tower)
    encoder = model.text_tower.encoder
    if tower == "text" and fuse and fusable(encoder):
        export_fused_text(module, encoder, args, TEXT_INPUTS, OUTPUT, path)
        return
    batch = torch.export.Dim("batch", min=1, max=4096)
    if tower == "text":
        sequence = torch.export.Dim("sequence", min=1, max=model.config.text_max_length)
        names: tuple[str, ...] = TEXT_INPUTS
        dynamic_shapes: tuple = ({0: batch, 1: sequence}, {0: batch, 1: sequence})
    else:
        names = VISION_INPUTS
        dynamic_shapes = ({0: batch},)
    _export(module, args, names, OUTPUT, dynamic_shapes, opset, path)


# A CNN's feature map is H/32 × W/32: below 32 px there is no location left.
DENSE_MIN_SIDE = 32


def export_dense(model: DualEncoder, path: Path, *, opset: int = OPSET) -> None:
    """Write the dense vision graph (`tensors.DENSE_OUTPUT`): batch, height and width dynamic.
    Only for towers with `supports_dense` (the caller checks)."""
    module = model.dense_module().eval()
    size = model.image_preprocessing.crop_size
    # Unequal, non-multiple-of-32 sides, so a baked-in shape or square assumption would show.
    args = (torch.randn(EXPORT_BATCH, 3, size + 13, size + 45),)
    batch = torch.export.Dim("batch", min=1, max=4096)
    height = torch.export.Dim("height", min=DENSE_MIN_SIDE, max=8192)
    width = torch.export.Dim("width", min=DENSE_MIN_SIDE, max=8192)
    dynamic_shapes = ({0: batch, 2: height, 3: width},)
    _export(module, args, VISION_INPUTS, DENSE_OUTPUT, dynamic_shapes, opset, path)


def _export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    names: tuple[str, ...],
    output: str,
    dynamic_shapes: tuple,
    opset: int,
    path: Path,
) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter is chatty about internals
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            module,
            args,
            input_names=list(names),
            output_names=[output],
            dynamic_shapes=dynamic_shapes,
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    if program is None:  # pragma: no cover - only the legacy exporter returns None
        raise RuntimeError("torch.onnx.export returned no program")
    program.save(str(path), external_data=False)
