"""Where a dense graph's locations sit on the photo (`manifest.DenseVision.stride`): one
definition for the service's heatmaps and for training on feature maps."""

from __future__ import annotations

import numpy as np


def location_centres(count: int, stride: int, length: int) -> np.ndarray:
    """Where each location along one axis is centred, as a fraction of the input's `length`:
    with symmetric padding, location k's receptive field is centred on input pixel
    `stride * k` (its centre `stride * k + 0.5` in continuous coordinates), not in the middle
    of the k-th `stride`-wide band: half a stride (16 px at stride 32) from where a plain
    resize of the map would put it."""
    return (stride * np.arange(count) + 0.5) / length
