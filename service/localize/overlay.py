"""The heatmap drawn over the photo, with the best box: what the CLI writes as a PNG.

The page draws the same thing in the browser from the JSON heatmap; this is the server-side
rendering for the command line and the README example.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from sguardo.service.localize.windows import Box

# Cold cells stay the photo; warm ones turn red-orange, hot ones yellow, in proportion.
_COLD = np.array([255, 40, 0], dtype=np.float32)
_HOT = np.array([255, 230, 0], dtype=np.float32)
BOX_COLOUR = (0, 255, 255)  # cyan: visible on red, orange and yellow heat


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """(rows, cols) in [0, 1] → (rows, cols, 4) uint8 RGBA, alpha rising with the heat."""
    h = np.clip(heat, 0, 1)[..., None].astype(np.float32)
    rgb = _COLD * (1 - h) + _HOT * h
    alpha = 200 * h**1.5  # the lower half of the scale stays nearly transparent
    return np.concatenate([rgb, alpha], axis=-1).round().astype(np.uint8)


def render_overlay(
    image: Image.Image, heat: np.ndarray, box: Box | None = None, *, max_side: int = 640
) -> Image.Image:
    """The photo (at most `max_side` on the long side) under its heatmap, box drawn on top."""
    base = image.convert("RGB")
    scale = min(1.0, max_side / max(base.size))
    if scale < 1:
        base = base.resize((round(base.width * scale), round(base.height * scale)))
    layer = Image.fromarray(heat_colours(heat), "RGBA").resize(base.size, Image.Resampling.BILINEAR)
    out = Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB")
    if box is not None:
        sx, sy = base.width / image.width, base.height / image.height
        draw = ImageDraw.Draw(out)
        line = max(2, round(max(base.size) / 160))
        draw.rectangle(
            (box.left * sx, box.top * sy, box.right * sx - 1, box.bottom * sy - 1),
            outline=BOX_COLOUR,
            width=line,
        )
    return out
