"""A Triton model repository for a bundle: its two ONNX graphs under the onnxruntime backend.

    repository/
      sguardo_text/config.pbtxt     sguardo_text/1/model.onnx
      sguardo_vision/config.pbtxt   sguardo_vision/1/model.onnx

Triton's own dynamic batcher merges requests that reach it with equal shapes; the service's
batcher already sends full batches, so the queue delay stays short.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import Precision, Tower
from sguardo.bundle.tensors import OUTPUT, PIXEL_VALUES, TEXT_INPUTS


@dataclass(frozen=True)
class TritonModelOptions:
    max_batch_size: int = 64
    preferred_batch_sizes: tuple[int, ...] = (8, 16, 32)
    max_queue_delay_us: int = 2000
    instance_kind: str = "KIND_GPU"  # KIND_CPU for CPU-only servers
    instance_count: int = 1
    tensorrt: bool = False  # accelerate with ONNX Runtime's TensorRT provider inside Triton
    fp16: bool = False


def _tensor(name: str, data_type: str, dims: list[int]) -> str:
    return f'  {{ name: "{name}" data_type: {data_type} dims: [ {", ".join(map(str, dims))} ] }}'


def model_config(bundle: Bundle, tower: Tower, name: str, options: TritonModelOptions) -> str:
    """config.pbtxt text for one tower (batch dimension implicit: max_batch_size > 0)."""
    dim = bundle.manifest.embedding_dim
    if tower == "text":
        inputs = [_tensor(name, "TYPE_INT64", [-1]) for name in TEXT_INPUTS]
    else:
        size = bundle.manifest.image.crop_size
        inputs = [_tensor(PIXEL_VALUES, "TYPE_FP32", [3, size, size])]
    preferred = ", ".join(
        str(b) for b in options.preferred_batch_sizes if b <= options.max_batch_size
    )
    lines = [
        f'name: "{name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {options.max_batch_size}",
        "input [",
        ",\n".join(inputs),
        "]",
        "output [",
        _tensor(OUTPUT, "TYPE_FP32", [dim]),
        "]",
        "dynamic_batching {",
        f"  preferred_batch_size: [ {preferred} ]",
        f"  max_queue_delay_microseconds: {options.max_queue_delay_us}",
        "}",
        f"instance_group [ {{ count: {options.instance_count} kind: {options.instance_kind} }} ]",
    ]
    if options.tensorrt:
        precision = "FP16" if options.fp16 else "FP32"
        lines += [
            "optimization { execution_accelerators { gpu_execution_accelerator : [ {",
            '  name : "tensorrt"',
            f'  parameters {{ key: "precision_mode" value: "{precision}" }}',
            "} ] } }",
        ]
    return "\n".join(lines) + "\n"


def write_model_repository(
    bundle: Bundle,
    out: Path,
    *,
    precision: Precision = "fp32",
    options: TritonModelOptions | None = None,
    text_model: str = "sguardo_text",
    vision_model: str = "sguardo_vision",
) -> dict[str, Path]:
    """Write (or overwrite) the two model directories; returns model name → directory."""
    options = options or TritonModelOptions()
    written = {}
    towers: tuple[tuple[Tower, str], ...] = (("text", text_model), ("vision", vision_model))
    for tower, name in towers:
        model_dir = Path(out) / name
        (model_dir / "1").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.onnx_path(tower, precision), model_dir / "1" / "model.onnx")
        (model_dir / "config.pbtxt").write_text(model_config(bundle, tower, name, options))
        written[name] = model_dir
    return written
