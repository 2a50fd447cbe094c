"""Input checks that several routes share: counts, text lengths, image ids."""

from __future__ import annotations

import uuid

from sguardo.service.api.errors import ApiError, too_large
from sguardo.service.core.settings import Limits


def check_texts(texts: list[str], limits: Limits) -> None:
    for i, text in enumerate(texts):
        if len(text) > limits.max_text_chars:
            raise too_large(
                f"texts[{i}] has {len(text)} characters; the limit is {limits.max_text_chars} "
                "(SGUARDO_LIMITS__MAX_TEXT_CHARS)"
            )


def check_count(count: int, limits: Limits, what: str = "items") -> None:
    if count > limits.max_items_per_request:
        raise too_large(
            f"{count} {what} in one request; the limit is {limits.max_items_per_request} "
            "(SGUARDO_LIMITS__MAX_ITEMS_PER_REQUEST)"
        )


def checked_id(image_id: str) -> str:
    """Ids are UUIDs derived from image bytes; anything else cannot name an image."""
    try:
        return str(uuid.UUID(image_id))
    except ValueError:
        raise ApiError(
            422, "invalid_id", f"{image_id!r} is not an image id (ids are UUIDs from POST /images)"
        ) from None
