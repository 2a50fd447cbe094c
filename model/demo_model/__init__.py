"""The demo model: its identity, spelled once, and the trained projection heads beside this file
(torch-free, so the root command can look without the training extra).

`sguardo export` turns these heads plus the preset's backbones into the demo bundle;
`sguardo benchmark offline --write-demo` writes them.
"""

from __future__ import annotations

from pathlib import Path

DEMO_MODEL_DIR = Path(__file__).parent
DEMO_PRESET = "e5-small-effnet-lite0"  # the architecture, a key of `model.config.PRESETS`
DEMO_MODEL_ID = "sguardo/e5-small-effnet-lite0-demo"
