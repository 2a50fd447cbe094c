"""Input checks that several routes share: counts and text lengths."""

from __future__ import annotations

from sguardo.service.api.errors import too_large
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
