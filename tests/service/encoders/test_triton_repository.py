"""The Triton model repository written for a bundle parses as Triton's ModelConfig."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import Tower
from sguardo.service.encoders.triton_repository import TritonModelOptions, write_model_repository


def test_repository_layout_and_configs(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    bundle = Bundle.load(tiny_bundle_dir)
    options = TritonModelOptions(max_batch_size=32, instance_kind="KIND_CPU", tensorrt=True)
    written = write_model_repository(bundle, tmp_path / "models", options=options)
    assert set(written) == {"sguardo_text", "sguardo_vision"}
    towers: dict[str, Tower] = {"sguardo_text": "text", "sguardo_vision": "vision"}
    for name, directory in written.items():
        tower = towers[name]
        onnx = directory / "1" / "model.onnx"
        assert onnx.read_bytes() == bundle.onnx_path(tower).read_bytes()
        config = text_format.Parse(
            (directory / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
        )
        assert config.name == name and config.backend == "onnxruntime"
        assert config.max_batch_size == 32
        assert list(config.dynamic_batching.preferred_batch_size) == [8, 16, 32]
        assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
        assert config.output[0].name == "l2_embedding"
        assert list(config.output[0].dims) == [bundle.manifest.embedding_dim]
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator[0]
        assert accelerator.name == "tensorrt"
    text = text_format.Parse(
        (written["sguardo_text"] / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert [i.name for i in text.input] == ["input_ids", "attention_mask"]
    assert list(text.input[0].dims) == [-1]
    vision = text_format.Parse(
        (written["sguardo_vision"] / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    size = bundle.manifest.image.crop_size
    assert list(vision.input[0].dims) == [3, size, size]
