"""The default demo model: multilingual-e5-small + EfficientNet-Lite0 with the projection heads
committed under `model/demo_model/` (see the README for how they were trained)."""

from __future__ import annotations

import logging

import torch

from sguardo.model.config import PRESETS
from sguardo.model.demo_model import DEMO_MODEL_DIR, DEMO_PRESET
from sguardo.model.dual_encoder import CONFIG_FILE, HEADS_FILE, DualEncoder

log = logging.getLogger(__name__)


def load_demo_model() -> DualEncoder:
    if (DEMO_MODEL_DIR / CONFIG_FILE).is_file() and (DEMO_MODEL_DIR / HEADS_FILE).is_file():
        return DualEncoder.load(DEMO_MODEL_DIR)
    log.warning("no trained demo heads in %s: using untrained projections", DEMO_MODEL_DIR)
    torch.manual_seed(0)
    return DualEncoder.from_config(PRESETS[DEMO_PRESET]).eval()
