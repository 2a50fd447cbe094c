"""Originals as files: `<root>/<first two hex digits of the id>/<id>`.

Sharded so that no directory holds millions of entries; written to a temporary file in the same
directory and renamed into place, so a reader (or a crash) never sees half an image.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from sguardo.service.originals.base import (
    OriginalCorruptError,
    OriginalMissingError,
    OriginalsError,
)
from sguardo.service.store.ids import point_id_for_bytes


class FilesystemOriginals:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, image_id: str) -> Path:
        # Parsed as a UUID, so no id can name a path outside the root ("../x").
        try:
            canonical = str(uuid.UUID(str(image_id)))
        except ValueError:
            raise OriginalsError(f"{str(image_id)[:80]!r} is not an image id (a UUID)") from None
        return self.root / canonical[:2] / canonical

    def put(self, image_id: str, data: bytes) -> bool:
        path = self.path_for(image_id)
        if path.is_file():
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise OriginalsError(f"cannot keep the original of image {image_id}: {exc}") from exc
        return True

    def get(self, image_id: str) -> bytes:
        path = self.path_for(image_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise OriginalMissingError(str(image_id)) from None
        except OSError as exc:
            raise OriginalsError(f"cannot read the original of image {image_id}: {exc}") from exc
        # Content-addressed: a hash check costs one pass and catches silent damage.
        if point_id_for_bytes(data) != path.name:
            raise OriginalCorruptError(path.name)
        return data

    def exists(self, image_id: str) -> bool:
        return self.path_for(image_id).is_file()

    def delete(self, image_id: str) -> bool:
        path = self.path_for(image_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise OriginalsError(f"cannot delete the original of image {image_id}: {exc}") from exc
        return True
