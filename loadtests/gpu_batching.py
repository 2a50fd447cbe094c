"""Dynamic batching on an accelerator: production-shaped towers behind the service's own
`DynamicBatcher`, items/s with batching on and off, concurrency 1 -> 256.

The towers are ViT-B/32 (CLIP vision, 224 px) and a BERT-base text encoder, random weights
(speed does not depend on the weights), in PyTorch on `--device` (CUDA where a device is lent;
onnxruntime-gpu is too large to carry there) in `--dtype` (fp32/fp16/bf16 autocast). Each of
`concurrency` callers submits one item at a time in a loop for `--seconds`; batching off is
`max_batch_size=1`. The share of the ceiling is items/s x FLOPs per item ÷ `--peak-tflops`
(ViT-B/32 ≈ 8.8 GFLOPs an image; BERT-base ≈ 2 x 110M x tokens).

    python loadtests/gpu_batching.py --device cuda --dtype bf16 --tower vision
    python loadtests/gpu_batching.py --device cpu --tiny --concurrency 1 4 --seconds 0.5  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sguardo.service.embedding.batching import DynamicBatcher

VIT_B32_GFLOPS = 8.8
DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class Tower:
    name: str
    infer: Callable[[list[np.ndarray]], np.ndarray]
    make_item: Callable[[], np.ndarray]
    gflops: float


def build_tower(kind: str, tiny: bool, device: str, dtype: str, tokens: int) -> Tower:
    from transformers import BertConfig, BertModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    module: torch.nn.Module
    if kind == "vision":
        config = (
            CLIPVisionConfig(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=32,
                patch_size=8,
            )
            if tiny
            else CLIPVisionConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                image_size=224,
                patch_size=32,
                projection_dim=512,
            )
        )
        module = CLIPVisionModelWithProjection(config)
        size = config.image_size
        gflops = VIT_B32_GFLOPS * (0.0 if tiny else 1.0)

        def make_item() -> np.ndarray:
            return np.random.default_rng().standard_normal((3, size, size), dtype=np.float32)

        def forward(batch: torch.Tensor) -> torch.Tensor:
            return module(pixel_values=batch).image_embeds

    else:
        config = (
            BertConfig(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                vocab_size=1000,
            )
            if tiny
            else BertConfig()  # bert-base: 12 x 768, 110M parameters
        )
        module = BertModel(config, add_pooling_layer=False)
        parameters = sum(p.numel() for p in module.parameters())
        gflops = 0.0 if tiny else 2 * parameters * tokens / 1e9

        def make_item() -> np.ndarray:
            return np.random.default_rng().integers(5, config.vocab_size, tokens)

        def forward(batch: torch.Tensor) -> torch.Tensor:
            return module(input_ids=batch).last_hidden_state[:, 0]

    module = module.eval().to(device)
    autocast = DTYPES[dtype]

    @torch.inference_mode()
    def infer(items: list[np.ndarray]) -> np.ndarray:
        batch = torch.from_numpy(np.stack(items)).to(device, non_blocking=True)
        with torch.autocast(
            device_type=device.split(":")[0], dtype=autocast, enabled=autocast is not None
        ):
            out = forward(batch)
        return out.float().cpu().numpy()  # the copy back synchronises the device

    return Tower(kind, infer, make_item, gflops)


async def measure(
    tower: Tower,
    concurrency: int,
    batching: bool,
    seconds: float,
    max_batch_size: int,
    max_wait_ms: float,
) -> tuple[float, float]:
    batcher: DynamicBatcher[np.ndarray] = DynamicBatcher(
        tower.name,
        tower.infer,
        max_batch_size=max_batch_size if batching else 1,
        max_wait_ms=max_wait_ms,
        max_queue=max(1024, 4 * concurrency),
    )
    items = [tower.make_item() for _ in range(64)]
    done = 0
    stop_at = 0.0

    async def caller(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < stop_at:
            await batcher.submit([items[i % len(items)]])
            done, i = done + 1, i + 1

    batcher.start()
    try:
        stop_at = time.perf_counter() + min(1.0, seconds)  # warm-up
        await asyncio.gather(*(caller(c) for c in range(concurrency)))
        done, started = 0, time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(caller(c) for c in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await batcher.stop()
    rows = done / elapsed
    return rows, rows * tower.gflops / 1e3  # items/s, TFLOP/s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), nargs="+", default=["bf16"])
    parser.add_argument("--tower", choices=["vision", "text"], nargs="+", default=["vision"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-batch-size", type=int, default=256)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--tokens", type=int, default=32, help="text: tokens per item")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=989.0,
        help="the device's dense peak for --dtype (H100/H200 bf16: 989)",
    )
    parser.add_argument("--tiny", action="store_true", help="tiny towers: a smoke test")
    args = parser.parse_args()
    print(
        f"device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
    )
    print(
        "| tower | dtype | concurrency | batching off items/s | batching on items/s | × | "
        "TFLOP/s on | share of peak |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in args.tower:
        for dtype in args.dtype:
            tower = build_tower(kind, args.tiny, args.device, dtype, args.tokens)
            for concurrency in args.concurrency:
                results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
                for round_ in range(args.rounds):
                    for batching in (False, True) if round_ % 2 == 0 else (True, False):
                        results[batching].append(
                            asyncio.run(
                                measure(
                                    tower,
                                    concurrency,
                                    batching,
                                    args.seconds,
                                    args.max_batch_size,
                                    args.max_wait_ms,
                                )
                            )
                        )
                off = statistics.median(r[0] for r in results[False])
                on = statistics.median(r[0] for r in results[True])
                tflops = statistics.median(r[1] for r in results[True])
                print(
                    f"| {kind} | {dtype} | {concurrency} | {off:,.1f} | {on:,.1f} | "
                    f"{on / off:.2f} | {tflops:.1f} | {tflops / args.peak_tflops:.1%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
