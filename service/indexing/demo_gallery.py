"""The demo gallery: real photos that installed packages carry, indexed on a fresh `sguardo serve`.

scikit-image and scikit-learn ship a handful of colour photographs with permissive licences
(stated in their docstrings and README). Reading the files in place needs no download, and
content-derived ids make indexing them again a no-op.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sguardo.service.indexing.indexer import ImageIndexer, ImageInput, IndexedImage
from sguardo.service.store.gallery import Gallery

logger = logging.getLogger("sguardo")


@dataclass(frozen=True)
class DemoPhoto:
    package: str  # import name of the package that carries the file
    relative_path: str  # inside the package
    title: str  # Italian
    title_en: str
    description: str  # Italian
    licence: str
    credit: str

    @property
    def filename(self) -> str:
        return Path(self.relative_path).name

    def metadata(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "title_en": self.title_en,
            "description": self.description,
            "licence": self.licence,
            "credit": self.credit,
            "source": f"{self.package}/{self.relative_path}",
            "collection": "demo",
        }


_SKIMAGE_CC0 = "CC0 (nessuna restrizione di copyright)"
_PUBLIC_DOMAIN = "pubblico dominio"
_SKLEARN_CC_BY = "CC BY 2.0"

DEMO_PHOTOS: tuple[DemoPhoto, ...] = (
    DemoPhoto(
        "skimage",
        "data/chelsea.png",
        "Chelsea, un gatto",
        "Chelsea the cat",
        "Un gatto tigrato rosso guarda di lato.",
        _SKIMAGE_CC0,
        "Stefan van der Walt",
    ),
    DemoPhoto(
        "skimage",
        "data/coffee.png",
        "Una tazza di caffè",
        "Coffee cup",
        "Una tazzina di caffè con piattino e cucchiaino su un tavolo di legno.",
        _SKIMAGE_CC0,
        "Rachel Michetti, per Pikolo Espresso Bar",
    ),
    DemoPhoto(
        "skimage",
        "data/astronaut.png",
        "L’astronauta Eileen Collins",
        "Astronaut Eileen Collins",
        "Ritratto dell’astronauta Eileen Collins in tuta arancione con la bandiera americana.",
        _PUBLIC_DOMAIN,
        "NASA",
    ),
    DemoPhoto(
        "skimage",
        "data/rocket.jpg",
        "Il lancio di un razzo",
        "Falcon 9 launch",
        "Un razzo Falcon 9 decolla da Cape Canaveral con il satellite DSCOVR.",
        _PUBLIC_DOMAIN,
        "SpaceX",
    ),
    DemoPhoto(
        "skimage",
        "data/hubble_deep_field.jpg",
        "Il campo profondo di Hubble",
        "Hubble eXtreme Deep Field",
        "Migliaia di galassie lontane fotografate dal telescopio spaziale Hubble.",
        _PUBLIC_DOMAIN,
        "NASA",
    ),
    DemoPhoto(
        "sklearn",
        "datasets/images/china.jpg",
        "Una pagoda cinese",
        "Chinese pagoda",
        "Una pagoda cinese a più piani tra gli alberi, con un lago sullo sfondo.",
        _SKLEARN_CC_BY,
        "danielbuechele (Flickr)",
    ),
    DemoPhoto(
        "sklearn",
        "datasets/images/flower.jpg",
        "Una dalia arancione",
        "Orange dahlia",
        "Primo piano di una dalia arancione su uno sfondo verde scuro.",
        _SKLEARN_CC_BY,
        "vultilion (Flickr)",
    ),
)


def _package_dir(package: str) -> Path | None:
    """The package's directory, found without importing it (scikit-learn is slow to import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def photo_path(photo: DemoPhoto) -> Path | None:
    root = _package_dir(photo.package)
    if root is None:
        return None
    path = root / photo.relative_path
    return path if path.is_file() else None


def demo_images() -> list[ImageInput]:
    """The demo photos present in this environment (a missing package just means fewer)."""
    items = []
    for photo in DEMO_PHOTOS:
        path = photo_path(photo)
        if path is not None:
            items.append(ImageInput(path.read_bytes(), photo.filename, photo.metadata()))
    return items


async def index_demo_gallery(indexer: ImageIndexer) -> list[IndexedImage]:
    """Index the demo photos; already-indexed ones are skipped, so this is safe to repeat."""
    items = demo_images()
    if not items:
        return []
    return await indexer.index(items)


async def seed_if_empty(gallery: Gallery, indexer: ImageIndexer) -> int:
    """Index the demo gallery into an empty collection; returns how many photos were added.

    A collection that already holds anything is left alone: the user's gallery, or the demo
    one from an earlier start (photos the user deleted stay deleted).
    """
    info = await gallery.info()
    if info.count:
        return 0
    indexed = await index_demo_gallery(indexer)
    added = sum(item.created for item in indexed)
    logger.info("indexed %d demo photos into collection %r", added, gallery.alias)
    return added
