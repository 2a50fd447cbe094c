"""How stored points are shown to clients, the same in every route."""

from __future__ import annotations

from typing import Any


def thumbnail_url(point_id: str) -> str:
    return f"/images/{point_id}/thumbnail"


def public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload a client sees: everything but the thumbnail's bytes."""
    return {k: v for k, v in payload.items() if k != "thumbnail"}
