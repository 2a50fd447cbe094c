"""Where Sguardo keeps things on disk (torch-free): both sides agree on these locations."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$SGUARDO_CACHE_DIR`, default ~/.cache/sguardo: materialised backbones, demo bundle."""
    return Path(os.environ.get("SGUARDO_CACHE_DIR", Path.home() / ".cache" / "sguardo"))


def demo_bundle_dir() -> Path:
    """Where `sguardo export` writes, and `sguardo serve` looks for, the default bundle."""
    return cache_dir() / "bundles" / "demo"


def registry_dir() -> Path:
    """`$SGUARDO_REGISTRY_PATH`, default `$SGUARDO_CACHE_DIR/registry`: versioned bundles and
    the `current` pointer (see `sguardo.bundle.registry`)."""
    configured = os.environ.get("SGUARDO_REGISTRY_PATH")
    return Path(configured) if configured else cache_dir() / "registry"
