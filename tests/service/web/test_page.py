"""The search page in Debian's Chromium: type a query, drop an image, upload through the form.

The tiny bundle has random weights, so relevance is meaningless here; what is checked is the
flow: requests made, thumbnails rendered, an image finding itself first, uploads indexed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from sguardo.service.store.ids import point_id_for_bytes

ALL_THUMBNAILS_LOADED = """() => {
  const imgs = [...document.querySelectorAll('#results li.result img')];
  return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0);
}"""

DROP_FILE = """async ([b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


def coco_photos(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))


def index_over_http(server: Any, photos: list[Path], key: str | None = None) -> list[str]:
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    headers = {"X-API-Key": key} if key else {}
    response = httpx.post(f"{server.url}/images", files=files, headers=headers, timeout=60)
    response.raise_for_status()
    return [image["id"] for image in response.json()["images"]]


@pytest.fixture(scope="module")
def gallery(live_server: Any, shared_data: Path) -> list[tuple[Path, str]]:
    photos = coco_photos(shared_data)[:5]
    return list(zip(photos, index_over_http(live_server, photos), strict=True))


def result_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all("#results li.result", "items => items.map(i => i.dataset.id)")


def test_text_search_shows_thumbnails_and_scores(
    page: Any, live_server: Any, gallery: list[tuple[Path, str]]
) -> None:
    page.goto(live_server.url + "/")
    assert page.title().startswith("Sguardo")
    page.get_by_label("Descrivi l’immagine che cerchi").fill("un gatto sul divano")
    page.get_by_role("button", name="Cerca", exact=True).click()
    page.wait_for_function(ALL_THUMBNAILS_LOADED)
    assert sorted(result_ids(page)) == sorted(point_id for _, point_id in gallery)
    scores = page.locator("#results .score").all_inner_texts()
    assert all(text.startswith("punteggio ") for text in scores)
    names = page.locator("#results .name").all_inner_texts()
    assert {path.name for path, _ in gallery} == set(names)
    assert all(page.locator("#results img").evaluate_all("imgs => imgs.map(i => i.alt)"))
    assert "5 risultati" in page.locator("#status").inner_text()


def test_dropped_image_finds_itself_first(
    page: Any, live_server: Any, gallery: list[tuple[Path, str]]
) -> None:
    photo, point_id = gallery[2]
    page.goto(live_server.url + "/")
    page.evaluate(DROP_FILE, [base64.b64encode(photo.read_bytes()).decode(), photo.name])
    page.wait_for_function(ALL_THUMBNAILS_LOADED)
    assert result_ids(page)[0] == point_id
    assert photo.name in page.locator("#status").inner_text()


def test_chosen_file_searches_like_a_drop(
    page: Any, live_server: Any, gallery: list[tuple[Path, str]]
) -> None:
    photo, point_id = gallery[4]
    page.goto(live_server.url + "/")
    page.set_input_files("#drop-input", str(photo))
    page.wait_for_function(ALL_THUMBNAILS_LOADED)
    assert result_ids(page)[0] == point_id


def test_upload_form_indexes_new_images(
    page: Any, live_server: Any, gallery: list[tuple[Path, str]], shared_data: Path
) -> None:
    photo = coco_photos(shared_data)[10]
    point_id = point_id_for_bytes(photo.read_bytes())
    page.goto(live_server.url + "/")
    page.get_by_label("Immagini da indicizzare").set_input_files(str(photo))
    page.get_by_label("Titolo (facoltativo)").fill("Foto caricata dal test")
    page.get_by_role("button", name="Indicizza", exact=True).click()
    page.wait_for_function(
        "() => document.getElementById('upload-status').textContent.startsWith('Indicizzate 1')"
    )
    record = httpx.get(f"{live_server.url}/images/{point_id}", timeout=30).json()
    assert record["payload"]["title"] == "Foto caricata dal test"
    assert record["payload"]["filename"] == photo.name
    page.set_input_files("#drop-input", str(photo))
    page.wait_for_function(ALL_THUMBNAILS_LOADED)
    assert result_ids(page)[0] == point_id
    assert page.locator("#results .name").first.inner_text() == "Foto caricata dal test"


def test_uploads_and_reads_with_an_api_key(page: Any, keyed_server: Any, shared_data: Path) -> None:
    photo = coco_photos(shared_data)[20]
    page.goto(keyed_server.url + "/")
    upload = page.get_by_role("button", name="Indicizza", exact=True)
    page.wait_for_function("() => !document.getElementById('upload-locked').hidden")
    assert upload.is_disabled()

    page.get_by_text("Impostazioni", exact=True).click()
    page.get_by_label("Chiave API (resta solo in questo browser)").fill("segreto")
    page.get_by_role("button", name="Salva", exact=True).click()
    assert upload.is_enabled()
    page.get_by_label("Immagini da indicizzare").set_input_files(str(photo))
    upload.click()
    page.wait_for_function(
        "() => document.getElementById('upload-status').textContent.startsWith('Indicizzate 1')"
    )
    # Thumbnails need the key too: the page fetches them with it.
    page.get_by_label("Descrivi l’immagine che cerchi").fill("una foto")
    page.get_by_role("button", name="Cerca", exact=True).click()
    page.wait_for_function(ALL_THUMBNAILS_LOADED)
    assert result_ids(page) == [point_id_for_bytes(photo.read_bytes())]


def test_example_queries_search(
    page: Any, live_server: Any, gallery: list[tuple[Path, str]]
) -> None:
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="un gatto", exact=True).click()
    page.wait_for_function(ALL_THUMBNAILS_LOADED)
    assert page.get_by_label("Descrivi l’immagine che cerchi").input_value() == "un gatto"
    assert "«un gatto»" in page.locator("#status").inner_text()
