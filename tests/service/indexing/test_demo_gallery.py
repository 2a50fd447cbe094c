"""The demo gallery: real photos from installed packages, indexed once into an empty collection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PIL import Image

from sguardo.service.app.services import build_services
from sguardo.service.core.metrics import Metrics
from sguardo.service.core.settings import Settings
from sguardo.service.indexing.demo_gallery import (
    DEMO_PHOTOS,
    demo_images,
    photo_path,
    seed_if_empty,
)
from sguardo.service.store.ids import point_id_for_bytes


def test_every_demo_photo_is_a_colour_photo_carried_by_an_installed_package() -> None:
    for photo in DEMO_PHOTOS:
        path = photo_path(photo)
        assert path is not None, f"{photo.package} does not carry {photo.relative_path}"
        with Image.open(path) as image:
            assert image.mode in ("RGB", "RGBA")
            assert min(image.size) >= 200
        assert photo.title and photo.title_en and photo.licence and photo.credit
    filenames = {item.filename for item in demo_images()}
    assert {"chelsea.png", "coffee.png", "china.jpg"} <= filenames


def test_seed_indexes_an_empty_collection_once(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    settings = Settings(bundle_path=tiny_bundle_dir, store_path=tmp_path / "store", max_wait_ms=1)

    async def run() -> tuple[int, int, dict[str, object] | None, int]:
        services = await build_services(settings, Metrics())
        try:
            first = await seed_if_empty(services.gallery, services.indexer)
            second = await seed_if_empty(services.gallery, services.indexer)
            cat = next(i for i in demo_images() if i.filename == "chelsea.png")
            point = await services.gallery.get(point_id_for_bytes(cat.data))
            # Deleting a demo photo is respected: the collection is not empty, nothing returns.
            await services.gallery.delete([point_id_for_bytes(cat.data)])
            third = await seed_if_empty(services.gallery, services.indexer)
            return first, second, point.payload if point else None, third
        finally:
            await services.close()

    first, second, payload, third = asyncio.run(run())
    assert first == len(DEMO_PHOTOS)
    assert second == 0 and third == 0
    assert payload is not None
    assert payload["title"] == "Chelsea, un gatto"
    assert payload["collection"] == "demo"
    assert payload["filename"] == "chelsea.png"
    assert "CC0" in str(payload["licence"])
