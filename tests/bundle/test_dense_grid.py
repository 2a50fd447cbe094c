"""Where a dense map's locations sit on the photo."""

from __future__ import annotations

import numpy as np

from sguardo.bundle.dense_grid import location_centres


def test_locations_sit_on_pixel_stride_times_index() -> None:
    # 3 locations over 96 px at stride 32 see pixels 0, 32, 64: their centres 0.5, 32.5, 64.5
    assert np.allclose(location_centres(3, 32, 96) * 96, [0.5, 32.5, 64.5])
