"""Content-derived point ids."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from sguardo.service.store.base import StoreError
from sguardo.service.store.ids import canonical_id, point_id_for_bytes


def test_same_bytes_same_id_and_it_is_a_uuid() -> None:
    data = b"\x89PNG fake image bytes"
    first = point_id_for_bytes(data)
    assert first == point_id_for_bytes(bytes(data))
    assert str(uuid.UUID(first)) == first
    assert uuid.UUID(first).bytes == hashlib.sha256(data).digest()[:16]


def test_different_bytes_different_ids() -> None:
    assert point_id_for_bytes(b"a") != point_id_for_bytes(b"b")
    assert point_id_for_bytes(b"") == "e3b0c442-98fc-1c14-9afb-f4c8996fb924"


def test_canonical_id() -> None:
    some = point_id_for_bytes(b"x")
    assert canonical_id(some.upper()) == some
    assert canonical_id(some.replace("-", "")) == some
    with pytest.raises(StoreError, match="point_id_for_bytes"):
        canonical_id("photo-1.jpg")
