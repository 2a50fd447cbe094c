"""Content-derived point ids: the same image always gets the same id, so indexing is idempotent."""

from __future__ import annotations

import hashlib
import uuid

from sguardo.service.store.base import InvalidQueryError


def point_id_for_bytes(data: bytes) -> str:
    """UUID built from the first 16 bytes of sha256(data)."""
    return str(uuid.UUID(bytes=hashlib.sha256(data).digest()[:16]))


def canonical_id(point_id: str) -> str:
    """The canonical UUID string (lower case, hyphenated) for an id given in any UUID form."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise InvalidQueryError(
            f"Point id {str(point_id)[:80]!r} is not a UUID; derive ids with point_id_for_bytes()."
        ) from None
