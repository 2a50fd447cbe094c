""" "Dove si trova?" in Chromium: a phrase typed over a chosen photo or a result's thumbnail
draws the heatmap and the box over it, checked on a screenshot's pixels.

The photo is one flat blue, so every warm pixel in the screenshot is the overlay's; the tiny
bundle's random weights put the peak anywhere, so the checks follow what /localize answered.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from .test_page import ALL_THUMBNAILS_LOADED, index_over_http

BLUE = (30, 60, 200)
DRAWN = "() => document.getElementById('where-overlay').dataset.drawn === 'true'"


@pytest.fixture
def blue_photo(tmp_path: Path) -> Path:
    path = tmp_path / "blu.png"
    Image.new("RGB", (300, 200), BLUE).save(path)
    return path


def _screenshot(page: Any) -> np.ndarray:
    png = page.locator("#where-figure").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _localize_in_page(page: Any, phrase: str) -> dict[str, Any]:
    page.get_by_label("Cosa cerchi nella foto").fill(phrase)
    with page.expect_response("**/localize") as answer:
        page.get_by_role("button", name="Trova", exact=True).click()
    body: dict[str, Any] = answer.value.json()
    page.wait_for_function(DRAWN)
    return body


def test_a_chosen_photo_gets_the_heatmap_and_the_box_overlaid(
    page: Any, live_server: Any, blue_photo: Path
) -> None:
    page.goto(live_server.url + "/")
    page.get_by_label("Foto in cui cercare").set_input_files(str(blue_photo))
    page.wait_for_function("() => document.getElementById('where-image').naturalWidth > 0")
    before = _screenshot(page)
    assert np.abs(before - BLUE).max() <= 3  # nothing drawn yet: the photo alone
    body = _localize_in_page(page, "una persona con un ombrello")
    shot = _screenshot(page)
    assert shot.shape == before.shape
    height, width = shot.shape[:2]
    sx, sy = width / body["width"], height / body["height"]
    result = body["results"][0]
    # The peak is tinted warm: the blue photo turned red-orange-yellow there.
    x, y = result["point"]
    px, py = min(width - 1, int(x * sx)), min(height - 1, int(y * sy))
    peak = shot[py, px]
    assert peak[0] > 150 and peak[0] > peak[2] + 80, peak
    # Cold cells leave the photo as it was: the heatmap's 0 is transparent.
    assert (np.abs(shot - BLUE).max(axis=2) <= 6).mean() > 0.01
    # The box's outline is cyan, along its top edge.
    box = result["box"]
    top = int(box["top"] * sy)
    band = shot[max(0, top - 2) : top + 3, int(box["left"] * sx) + 3 : int(box["right"] * sx) - 3]
    cyan = (band[..., 0] < 90) & (band[..., 1] > 190) & (band[..., 2] > 190)
    assert cyan.mean(axis=1).max() > 0.8  # one row of the band is the outline
    status = page.locator("#where-status").inner_text()
    assert "«una persona con un ombrello»" in status and "riquadro" in status


def test_a_search_result_is_localised_on_its_thumbnail(
    page: Any, live_server: Any, shared_data: Path
) -> None:
    photo = sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[30]
    index_over_http(live_server, [photo])
    page.goto(live_server.url + "/")
    page.get_by_label("Descrivi l’immagine che cerchi").fill("una foto")
    page.get_by_role("button", name="Cerca", exact=True).click()
    page.wait_for_function(ALL_THUMBNAILS_LOADED)
    page.locator("#results li.result .where-button").first.click()
    page.wait_for_function("() => document.getElementById('where-image').naturalWidth > 0")
    before = _screenshot(page)
    body = _localize_in_page(page, "un cane")
    assert max(body["width"], body["height"]) == 192  # the thumbnail, as the page says
    after = _screenshot(page)
    changed = np.abs(after - before).max(axis=2) > 30
    assert changed.mean() > 0.01  # the overlay is on screen


def test_a_refused_request_says_why(page: Any, live_server: Any, tmp_path: Path) -> None:
    not_image = tmp_path / "nota.png"
    not_image.write_bytes(b"not an image")
    page.goto(live_server.url + "/")
    page.get_by_label("Foto in cui cercare").set_input_files(str(not_image))
    page.get_by_label("Cosa cerchi nella foto").fill("un gatto")
    page.get_by_role("button", name="Trova", exact=True).click()
    page.wait_for_function(
        "() => document.getElementById('where-status').classList.contains('error')"
    )
    assert "Localizzazione non riuscita" in page.locator("#where-status").inner_text()
