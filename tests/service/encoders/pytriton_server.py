"""Serve a bundle's ONNX graphs through a real Triton server (PyTriton), for the Triton tests.

Run with a Python that has `nvidia-pytriton` and `onnxruntime`:
    python pytriton_server.py BUNDLE_DIR HTTP_PORT GRPC_PORT METRICS_PORT
Binds 127.0.0.1 only; prints "READY" when both models are served.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def main() -> None:
    bundle, http_port, grpc_port, metrics_port = Path(sys.argv[1]), *map(int, sys.argv[2:5])
    manifest = json.loads((bundle / "bundle.json").read_text())
    dim = manifest["embedding_dim"]
    files = manifest["variants"]["fp32"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    text = ort.InferenceSession(str(bundle / files["text"]), options)
    vision = ort.InferenceSession(str(bundle / files["vision"]), options)

    @batch
    def infer_text(input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return {"l2_embedding": text.run(["l2_embedding"], feeds)[0]}

    @batch
    def infer_vision(pixel_values: np.ndarray) -> dict[str, np.ndarray]:
        return {"l2_embedding": vision.run(["l2_embedding"], {"pixel_values": pixel_values})[0]}

    size = manifest["image"]["crop_size"]
    out = [Tensor(name="l2_embedding", dtype=np.float32, shape=(dim,))]
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=http_port,
        grpc_address="127.0.0.1",
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        allow_metrics=False,
        log_verbose=0,
    )
    with Triton(config=config) as triton:
        triton.bind(
            model_name="sguardo_text",
            infer_func=infer_text,
            inputs=[
                Tensor(name="input_ids", dtype=np.int64, shape=(-1,)),
                Tensor(name="attention_mask", dtype=np.int64, shape=(-1,)),
            ],
            outputs=out,
            config=ModelConfig(max_batch_size=64),
        )
        triton.bind(
            model_name="sguardo_vision",
            infer_func=infer_vision,
            inputs=[Tensor(name="pixel_values", dtype=np.float32, shape=(3, size, size))],
            outputs=out,
            config=ModelConfig(max_batch_size=64),
        )
        print("READY", flush=True)
        triton.serve()


if __name__ == "__main__":
    main()
