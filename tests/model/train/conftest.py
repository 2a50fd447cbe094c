"""Synthetic image–caption data for trainer tests: coloured images, Italian captions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_synthetic_jsonl(directory: Path, captions: list[str], n: int = 16) -> Path:
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        colour = rng.integers(0, 255, size=3)
        pixels = np.tile(colour, (40, 48, 1)).astype(np.uint8)
        pixels[: 10 + i, : 5 + i] = 255 - colour
        Image.fromarray(pixels).save(directory / f"img{i:03d}.jpg")
        own = [captions[i % len(captions)], captions[(i + 1) % len(captions)] + f" numero {i}"]
        lines.append(json.dumps({"image": f"img{i:03d}.jpg", "captions": own}))
    manifest = directory / "train.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@pytest.fixture(scope="session")
def make_jsonl():
    """The synthetic-data writer, for tests that need their own set."""
    return write_synthetic_jsonl


@pytest.fixture(scope="session")
def synthetic_jsonl(tmp_path_factory: pytest.TempPathFactory, italian_sentences) -> Path:
    return write_synthetic_jsonl(tmp_path_factory.mktemp("synthetic"), italian_sentences)


@pytest.fixture
def train_overrides(tiny_config, synthetic_jsonl: Path, tmp_path: Path) -> dict:
    """A complete tiny training config as a dict (tests adjust it)."""
    return {
        "preset": None,
        "model": tiny_config.model_dump(mode="json"),
        "data": [{"kind": "jsonl", "path": str(synthetic_jsonl)}],
        "output_dir": str(tmp_path / "run"),
        "batch_size": 4,
        "epochs": 1,
        "lr": 1e-2,
        "backbone_lr": 1e-3,
        "warmup_steps": 1,
        "optimizer": "adamw",
        "agc_clip": None,
        "deterministic_backbones": True,
        "progress": False,
        "tensorboard": False,
        "save_every": 1000,
    }
