"""What any parsed JSON body must be before a route or the encoder sees it.

Checked once, for the whole body, so no route can forget it: nesting is bounded (the parser
and pydantic recurse, and a payload nested 10,000 deep would reach the store), every string can
be encoded as UTF-8 (a lone surrogate such as "\\ud800" is legal JSON but the tokenizer and the
store refuse it, and a batch must not fail for one caller's text), every integer fits the
64 bits the store keeps, and every number is finite (Python's parser reads NaN and 1e999).
"""

from __future__ import annotations

import math
from typing import Any

from sguardo.service.api.errors import ApiError, clip

MAX_DEPTH = 32
INT64 = (-(2**63), 2**63 - 1)


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{clip(key, 40)}" if parent else clip(key, 40)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_json_tree(raw: Any, root: str = "") -> None:
    """Raise a 422 naming the first field that is too deep, not UTF-8, or out of range."""
    stack: list[tuple[Any, str, int]] = [(raw, root, 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or "body"
        if depth > MAX_DEPTH:
            raise ApiError(
                422,
                "validation_error",
                f"{clip(where, 120)}: JSON nested deeper than {MAX_DEPTH} levels",
            )
        if isinstance(value, str):
            if not _utf8(value):
                raise ApiError(
                    422,
                    "validation_error",
                    f"{where}: text is not valid Unicode (a lone surrogate such as \\ud800); "
                    "send UTF-8 text",
                )
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not INT64[0] <= value <= INT64[1]:
                raise ApiError(422, "validation_error", f"{where}: integer does not fit in 64 bits")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ApiError(422, "validation_error", f"{where}: number is not finite")
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _utf8(key):
                    raise ApiError(
                        422,
                        "validation_error",
                        f"{where}: a key is not valid Unicode (a lone surrogate); send UTF-8 text",
                    )
                stack.append((item, _path(path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, _path(path, i), depth + 1) for i, item in enumerate(value))
