"""The overlay PNG: the photo stays where the heat is cold, turns warm where it is hot."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sguardo.service.localize.overlay import BOX_COLOUR, heat_colours, render_overlay
from sguardo.service.localize.windows import Box


def test_heat_colours_are_transparent_when_cold_and_warm_when_hot() -> None:
    colours = heat_colours(np.array([[0.0, 1.0]]))
    assert colours[0, 0, 3] == 0
    red, _green, blue, alpha = colours[0, 1]
    assert alpha >= 190 and red == 255 and blue == 0


def test_render_overlay_tints_the_hot_corner_and_draws_the_box() -> None:
    photo = Image.new("RGB", (400, 200), (40, 40, 160))  # blue
    heat = np.zeros((4, 8))
    heat[2:, 4:] = 1.0  # bottom-right quarter
    out = np.asarray(render_overlay(photo, heat, Box(200, 100, 400, 200), max_side=200))
    assert out.shape == (100, 200, 3)  # scaled to max_side
    cold, hot = out[10, 10], out[80, 150]
    assert tuple(cold) == (40, 40, 160)
    assert hot[0] > 200 and hot[2] < 100  # the photo's blue turned warm
    assert tuple(out[50, 100]) == BOX_COLOUR  # the box's top-left corner
