"""Write a Triton model repository for a Sguardo bundle.

    python deploy/triton/make_repository.py ~/.cache/sguardo/bundles/demo deploy/triton/models \
        [--precision fp16] [--cpu] [--tensorrt]

Then: tritonserver --model-repository deploy/triton/models, and run the service with
SGUARDO_ENCODER_BACKEND=triton SGUARDO_TRITON_URL=host:8001 SGUARDO_TRITON_PROTOCOL=grpc.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from model.bundle.bundle import Bundle
from service.encoders.triton_repository import TritonModelOptions, write_model_repository


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--cpu", action="store_true", help="KIND_CPU instances")
    parser.add_argument("--tensorrt", action="store_true", help="TensorRT accelerator")
    args = parser.parse_args()
    options = TritonModelOptions(
        max_batch_size=args.max_batch_size,
        instance_kind="KIND_CPU" if args.cpu else "KIND_GPU",
        tensorrt=args.tensorrt,
        fp16=args.precision == "fp16",
    )
    written = write_model_repository(
        Bundle.load(args.bundle), args.out, precision=args.precision, options=options
    )
    for name, directory in written.items():
        print(f"{name}: {directory}")


if __name__ == "__main__":
    main()
