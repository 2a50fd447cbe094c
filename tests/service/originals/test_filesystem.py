"""The filesystem originals adapter: sharded, atomic, idempotent, verified on read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sguardo.service.originals.base import (
    OriginalCorruptError,
    OriginalMissingError,
    OriginalsError,
)
from sguardo.service.originals.filesystem import FilesystemOriginals
from sguardo.service.store.ids import point_id_for_bytes


@pytest.fixture
def photo(shared_data: Path) -> bytes:
    return sorted((shared_data / "coco128" / "images").glob("*/*.jpg"))[0].read_bytes()


def test_put_get_delete_round_trip(tmp_path: Path, photo: bytes) -> None:
    originals = FilesystemOriginals(tmp_path / "originals")
    image_id = point_id_for_bytes(photo)
    assert not originals.exists(image_id)
    assert originals.put(image_id, photo) is True
    path = tmp_path / "originals" / image_id[:2] / image_id
    assert path.read_bytes() == photo  # sharded by the id's first two hex digits
    assert originals.exists(image_id.upper())  # any UUID form names the same file
    assert originals.get(image_id) == photo
    assert originals.put(image_id, photo) is False  # same id, same bytes: nothing written
    assert originals.delete(image_id) is True
    assert originals.delete(image_id) is False
    assert not path.exists()


def test_a_missing_original_says_how_to_get_it_back(tmp_path: Path) -> None:
    image_id = point_id_for_bytes(b"never kept")
    with pytest.raises(OriginalMissingError, match=r"indexed before .* Re-index it"):
        FilesystemOriginals(tmp_path).get(image_id)


def test_damaged_bytes_are_refused(tmp_path: Path, photo: bytes) -> None:
    originals = FilesystemOriginals(tmp_path)
    image_id = point_id_for_bytes(photo)
    originals.put(image_id, photo)
    originals.path_for(image_id).write_bytes(photo[:-10])
    with pytest.raises(OriginalCorruptError, match="damaged"):
        originals.get(image_id)


def test_ids_cannot_escape_the_root(tmp_path: Path) -> None:
    with pytest.raises(OriginalsError, match="not an image id"):
        FilesystemOriginals(tmp_path).put("../../etc/passwd", b"x")


def test_writes_leave_no_temporary_files_and_survive_races(tmp_path: Path, photo: bytes) -> None:
    originals = FilesystemOriginals(tmp_path)
    image_id = point_id_for_bytes(photo)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: originals.put(image_id, photo), range(16)))
    assert originals.get(image_id) == photo
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [image_id]


def test_an_unwritable_root_is_an_originals_error(tmp_path: Path, photo: bytes) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")  # a file where the root directory should be
    with pytest.raises(OriginalsError, match="cannot keep the original"):
        FilesystemOriginals(blocker).put(point_id_for_bytes(photo), photo)
