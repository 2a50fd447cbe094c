"""The bad-input catalogue: what a hostile or careless client sends, and exactly what it gets.

Each case asserts the status, the error code and a phrase of the message that says what was
wrong; after each one the service must still be ready and still embed. One app (small limits,
real tiny bundle) serves the whole catalogue: a case that broke it would fail every later one.
"""

from __future__ import annotations

import functools
import io
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings

from .conftest import b64

JSON_TYPE = {"content-type": "application/json"}
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
LIMITS = {
    "max_items_per_request": 4,
    "max_text_chars": 200,
    "max_image_bytes": 300_000,
    "max_image_pixels": 4_000_000,
    "max_decoded_bytes": 12_000_000,
    "max_labels": 5,
}


@dataclass
class Case:
    """One request and what it must get. `body` is sent as JSON text (json.dumps escapes lone
    surrogates, which httpx's json= cannot encode); `raw` as bytes with `headers`."""

    id: str
    method: str
    path: str
    status: int
    code: str = ""
    says: str = ""
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    data: dict[str, Any] | None = None


def _image(fmt: str, mode: str, size: tuple[int, int] = (48, 40), **save: Any) -> bytes:
    image = Image.new("RGB", size, (200, 30, 90)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def _png_header(width: int, height: int, mode: str = "RGB") -> bytes:
    """A real PNG of width x height, highly compressed: small on the wire, big decoded."""
    return _image("PNG", mode, (width, height), compress_level=9)


def _png_bomb(side: int) -> bytes:
    """A PNG whose header claims side x side pixels, with a few bytes of data: never decoded
    (or built) in full."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _embed_image(data: bytes, status: int = 422, code: str = "", says: str = "", id: str = ""):
    return Case(id, "POST", "/embed", status, code, says, body={"images": [b64(data)]})


def _search(body: dict[str, Any], status: int, code: str, says: str, id: str) -> Case:
    return Case(id, "POST", "/search", status, code, says, body=body)


def _filters(filters: Any, says: str, id: str, code: str = "validation_error") -> Case:
    return _search({"text": "gatto", "filters": filters}, 422, code, says, id)


def _index(item: dict[str, Any], status: int, code: str, says: str, id: str) -> Case:
    return Case(id, "POST", "/images", status, code, says, body={"images": [item]})


def _classify(body: dict[str, Any], status: int, code: str, says: str, id: str) -> Case:
    return Case(id, "POST", "/classify", status, code, says, body=body)


@functools.cache
def catalogue(photo: bytes) -> tuple[Case, ...]:
    return tuple(_catalogue(photo))


def _catalogue(photo: bytes) -> Iterator[Case]:
    good = b64(photo)
    # --- JSON itself
    yield Case(
        "not-json",
        "POST",
        "/embed",
        400,
        "invalid_json",
        "not valid JSON",
        raw=b"{texts: [",
        headers=JSON_TYPE,
    )
    yield Case(
        "json-nan",
        "POST",
        "/embed",
        400,
        "invalid_json",
        "NaN",
        raw=b'{"texts": ["a"], "x": NaN}',
        headers=JSON_TYPE,
    )
    yield Case(
        "json-infinity",
        "POST",
        "/search",
        400,
        "invalid_json",
        "Infinity",
        raw=b'{"text": "a", "score_threshold": Infinity}',
        headers=JSON_TYPE,
    )
    yield Case(
        "json-not-utf8",
        "POST",
        "/embed",
        400,
        "invalid_json",
        "not valid JSON",
        raw=b'{"texts": ["\xff\xfe\xfa"]}',
        headers=JSON_TYPE,
    )
    yield Case(
        "json-nested-100k",
        "POST",
        "/embed",
        400,
        "invalid_json",
        "nested too deeply",
        raw=b"[" * 100_000 + b"]" * 100_000,
        headers=JSON_TYPE,
    )
    yield Case(
        "json-nested-in-metadata",
        "POST",
        "/images",
        422,
        "validation_error",
        "nested deeper than 32",
        body={"images": [{"image": good, "metadata": json.loads("[" * 40 + "]" * 40)}]},
    )
    yield Case(
        "json-nested-filters",
        "POST",
        "/search",
        422,
        "validation_error",
        "nested deeper than 32",
        body={"text": "a", "filters": {"k": json.loads('{"a":' * 50 + "1" + "}" * 50)}},
    )
    yield Case(
        "json-array-body", "POST", "/embed", 422, "validation_error", "dictionary", body=["a"]
    )
    yield Case(
        "json-null-body",
        "POST",
        "/search",
        422,
        "validation_error",
        "dictionary",
        body=None,
        raw=b"null",
        headers=JSON_TYPE,
    )
    yield Case(
        "json-string-body", "POST", "/classify", 422, "validation_error", "dictionary", body="gatto"
    )
    yield Case(
        "json-float-overflow",
        "POST",
        "/images",
        422,
        "validation_error",
        "not finite",
        raw=b'{"images": [{"image": "' + good.encode() + b'", "metadata": {"x": 1e999}}]}',
        headers=JSON_TYPE,
    )
    yield Case(
        "json-int-over-64-bits",
        "POST",
        "/images",
        422,
        "validation_error",
        "64 bits",
        body={"images": [{"image": good, "metadata": {"n": 2**70}}]},
    )
    yield Case(
        "json-int-under-64-bits",
        "POST",
        "/images",
        422,
        "validation_error",
        "64 bits",
        body={"images": [{"image": good, "metadata": {"n": -(2**64)}}]},
    )
    yield Case(
        "content-type-text",
        "POST",
        "/embed",
        415,
        "unsupported_media_type",
        "application/json",
        raw=b'{"texts": ["a"]}',
        headers={"content-type": "text/plain"},
    )
    yield Case(
        "content-type-none",
        "POST",
        "/search",
        415,
        "unsupported_media_type",
        "multipart/form-data",
        raw=b'{"text": "a"}',
    )
    yield Case(
        "content-type-xml",
        "POST",
        "/images",
        415,
        "unsupported_media_type",
        "json",
        raw=b"<images/>",
        headers={"content-type": "application/xml"},
    )
    # --- unicode that the tokenizer or the store would refuse
    for name, path, body in [
        ("embed-text", "/embed", {"texts": ["ok", "\ud800"]}),
        ("search-text", "/search", {"text": "gatto \udfff"}),
        ("classify-label", "/classify", {"image": good, "labels": ["cane", "\ud83d"]}),
        (
            "classify-template",
            "/classify",
            {"image": good, "labels": ["cane"], "templates": ["\udc00 {}"]},
        ),
        ("metadata-value", "/images", {"images": [{"image": good, "metadata": {"a": "\ud800"}}]}),
        ("metadata-key", "/images", {"images": [{"image": good, "metadata": {"\ud800": 1}}]}),
        ("filename", "/images", {"images": [{"image": good, "filename": "\udfff.jpg"}]}),
        ("filter-value", "/search", {"text": "a", "filters": {"album": "\ud800"}}),
        ("filter-key", "/search", {"text": "a", "filters": {"\ud800": "x"}}),
    ]:
        yield Case(
            f"surrogate-{name}",
            "POST",
            path,
            422,
            "validation_error",
            "not valid Unicode",
            body=body,
        )
    for name, text in [
        ("emoji", "un 🐱 e un 🐶"),
        ("nul", "a\x00b"),
        ("rtl", "שלום مرحبا"),
        ("combining", "e\u0301\u0301\u0301"),
        ("zero-width", "\u200b\u200d"),
        ("only-spaces", "   "),
        ("private-use", "\ue000\U0010fffd"),
    ]:
        yield Case(f"unicode-{name}-embeds", "POST", "/embed", 200, body={"texts": [text]})
    yield Case(
        "unicode-emoji-metadata-indexes",
        "POST",
        "/images",
        200,
        body={"images": [{"image": good, "metadata": {"🐱": "😺", "": 1}}]},
    )
    # --- schema: fields, types, ranges
    yield Case("embed-nothing", "POST", "/embed", 422, "validation_error", "at least one", body={})
    yield Case(
        "embed-empty-lists",
        "POST",
        "/embed",
        422,
        "validation_error",
        "at least one",
        body={"texts": [], "images": []},
    )
    yield Case(
        "embed-unknown-field",
        "POST",
        "/embed",
        422,
        "validation_error",
        "txts",
        body={"txts": ["a"]},
    )
    yield Case(
        "embed-texts-not-list",
        "POST",
        "/embed",
        422,
        "validation_error",
        "texts",
        body={"texts": "a"},
    )
    yield Case(
        "embed-text-number",
        "POST",
        "/embed",
        422,
        "validation_error",
        "texts.0",
        body={"texts": [1]},
    )
    yield Case(
        "embed-image-not-string",
        "POST",
        "/embed",
        422,
        "validation_error",
        "images.0",
        body={"images": [{"b64": good}]},
    )
    yield _search({"text": "a", "top_k": 0}, 422, "validation_error", "top_k", "top-k-zero")
    yield _search({"text": "a", "top_k": 1001}, 422, "validation_error", "top_k", "top-k-big")
    yield _search({"text": "a", "top_k": 2**80}, 422, "validation_error", "64 bits", "top-k-huge")
    yield _search({"text": "a", "top_k": "dieci"}, 422, "validation_error", "top_k", "top-k-string")
    yield _search(
        {"text": "a", "score_threshold": 2},
        422,
        "validation_error",
        "score_threshold",
        "threshold-over-1",
    )
    yield _search({}, 422, "validation_error", "exactly one", "search-nothing")
    yield _search({"text": ""}, 422, "validation_error", "exactly one", "search-empty-text")
    yield _search(
        {"text": "a", "id": UUID}, 422, "validation_error", "exactly one", "search-text-and-id"
    )
    yield _search(
        {"text": "a", "image": good},
        422,
        "validation_error",
        "exactly one",
        "search-text-and-image",
    )
    yield _search(
        {"text": "x" * 201}, 413, "payload_too_large", "201 characters", "search-text-too-long"
    )
    yield _search({"image": "!!!"}, 422, "invalid_base64", "image", "search-bad-base64")
    yield _search(
        {"image": b64(b"GIF89a nope")}, 422, "invalid_image", "unrecognised", "search-not-an-image"
    )
    # --- ids
    yield _search({"id": "x"}, 422, "invalid_id", "'x' is not an image id", "search-id-bad")
    yield _search({"id": "7" * 100_000}, 422, "invalid_id", "100000 chars", "search-id-100k")
    yield _search({"id": UUID.upper()}, 404, "not_found", UUID, "search-id-upper-canonical")
    yield _search({"id": "{" + UUID + "}"}, 404, "not_found", UUID, "search-id-braced")
    yield _search({"id": "urn:uuid:" + UUID}, 404, "not_found", UUID, "search-id-urn")
    yield _search({"id": 12}, 422, "invalid_id", "12", "search-id-number")
    yield Case("get-id-bad", "GET", "/images/not-a-uuid", 422, "invalid_id", "not-a-uuid")
    yield Case("get-id-100k", "GET", "/images/" + "a" * 10_000, 422, "invalid_id", "chars")
    yield Case("get-id-upper", "GET", f"/images/{UUID.upper()}", 404, "not_found", UUID)
    yield Case("get-id-braced", "GET", f"/images/%7B{UUID}%7D", 404, "not_found", UUID)
    yield Case("get-thumb-bad", "GET", "/images/%00/thumbnail", 422, "invalid_id", "image id")
    yield Case("get-thumb-missing", "GET", f"/images/{UUID}/thumbnail", 404, "not_found", UUID)
    yield Case("delete-id-bad", "DELETE", "/images/1", 422, "invalid_id", "'1'")
    yield Case("delete-missing", "DELETE", f"/images/{UUID}", 404, "not_found", UUID)
    yield Case("get-path-traversal", "GET", "/images/..%2F..%2Fetc%2Fpasswd", 404, "not_found")
    # --- filters
    for key, name in [
        ("a b", "space"),
        ("", "empty"),
        ("$", "dollar"),
        ("🐱", "emoji"),
        ("a..b", "double-dot"),
        (".a", "leading-dot"),
        ("a[]", "brackets"),
        ("k" * 65, "65-chars"),
    ]:
        yield _filters({key: "x"}, "filters.", f"filter-key-{name}")
    for value, name in [
        ([1, "x"], "mixed-list"),
        ([], "empty-list"),
        ({"$ne": 1}, "object"),
        (None, "null"),
        (1.5, "float"),
        ([True, False], "bool-list"),
        ([[1]], "nested-list"),
        (["x"] * 65, "65-values"),
        ("x" * 1001, "long-string"),
    ]:
        yield _filters({"album": value}, "a filter value must be", f"filter-value-{name}")
    yield _filters({"album": 2**64}, "64 bits", "filter-value-over-64-bits")
    yield _filters({f"k{i}": 1 for i in range(17)}, "at most 16", "filter-17-keys")
    yield _filters(["album"], "filters", "filter-not-object")
    for value, name in [
        ("mare", "string"),
        (2024, "int"),
        (True, "bool"),
        (["a", "b"], "strs"),
        ([1, 2], "ints"),
        (-(2**63), "int64-min"),
    ]:
        yield Case(
            f"filter-ok-{name}",
            "POST",
            "/search",
            200,
            body={"text": "gatto", "filters": {"meta.album-1": value}},
        )
    # --- /classify templates and labels
    for template, name in [
        ("{}{x}", "named"),
        ("{}{1}", "positional"),
        ("{}{", "unbalanced"),
        ("}{}", "stray-close"),
        ("{0}", "indexed"),
        ("{!r}", "conversion"),
        ("{:>99999}", "format-spec"),
        ("{0.__class__}", "attribute"),
        ("senza", "no-field"),
        ("{}{}", "two-fields"),
    ]:
        yield _classify(
            {"image": good, "labels": ["gatto"], "templates": [template]},
            422,
            "validation_error",
            "exactly one '{}'",
            f"template-{name}",
        )
    yield _classify(
        {"image": good, "labels": ["gatto"], "templates": ["{{}} una {}"]},
        200,
        "",
        "",
        "template-escaped-braces-ok",
    )
    yield _classify(
        {"image": good, "labels": [" ", ""]},
        422,
        "validation_error",
        "at least one non-empty",
        "labels-blank",
    )
    yield _classify(
        {"image": good, "labels": []}, 422, "validation_error", "labels", "labels-empty"
    )
    yield _classify(
        {"image": good, "labels": [str(i) for i in range(6)]},
        413,
        "payload_too_large",
        "6 labels",
        "labels-too-many",
    )
    yield _classify(
        {"image": good, "labels": ["x" * 201]},
        413,
        "payload_too_large",
        "201 characters",
        "label-too-long",
    )
    yield _classify({"labels": ["gatto"]}, 422, "validation_error", "image", "classify-no-image")
    yield _classify(
        {"image": "", "labels": ["gatto"]}, 422, "invalid_image", "empty", "classify-empty-image"
    )
    # --- limits
    yield Case(
        "embed-too-many-items",
        "POST",
        "/embed",
        413,
        "payload_too_large",
        "5 items in one request",
        body={"texts": ["a"] * 5},
    )
    yield Case(
        "embed-text-too-long",
        "POST",
        "/embed",
        413,
        "payload_too_large",
        "texts[0] has 201 characters",
        body={"texts": ["x" * 201]},
    )
    yield Case(
        "embed-image-too-many-bytes",
        "POST",
        "/embed",
        413,
        "payload_too_large",
        "the limit is 300000",
        body={"images": [b64(b"\xff" * 300_001)]},
    )
    yield Case(
        "search-body-declared-too-large",
        "POST",
        "/search",
        413,
        "payload_too_large",
        "over the limit",
        raw=b"{}",
        headers={**JSON_TYPE, "content-length": "9999999"},
    )
    yield Case(
        "get-with-huge-body",
        "GET",
        "/healthz",
        413,
        "payload_too_large",
        "over the limit",
        raw=b"x" * 1_000_001,
    )
    yield Case(
        "embed-body-too-large",
        "POST",
        "/embed",
        413,
        "payload_too_large",
        "over the limit",
        body={"texts": ["x" * 200] * 20_000},
    )
    yield _embed_image(
        _png_header(2100, 2000, "L"),
        422,
        "invalid_image",
        "4200000 pixels; the limit is 4000000",
        "image-over-pixels",
    )
    yield _embed_image(
        _png_bomb(20_000), 422, "invalid_image", "pixels", "image-decompression-bomb"
    )
    yield _embed_image(
        _png_header(1500, 1500, "RGBA"),
        422,
        "invalid_image",
        "decoding it takes 15750000 bytes",
        "image-rgba-over-decoded-bytes",
    )
    yield _embed_image(
        _png_header(1700, 1700, "I;16"),
        422,
        "invalid_image",
        "I;16: decoding it takes",
        "image-16-bit-over-decoded-bytes",
    )
    yield _embed_image(_png_header(1900, 1900, "RGB"), 200, id="image-rgb-under-decoded-bytes")
    # --- images of every format and mode
    for fmt, mode in [
        ("PNG", "1"),
        ("PNG", "L"),
        ("PNG", "LA"),
        ("PNG", "P"),
        ("PNG", "RGBA"),
        ("PNG", "I;16"),
        ("TIFF", "I"),
        ("JPEG", "L"),
        ("JPEG", "CMYK"),
        ("GIF", "P"),
        ("WEBP", "RGBA"),
        ("BMP", "RGB"),
        ("TIFF", "RGB"),
        ("TIFF", "F"),
    ]:
        yield _embed_image(_image(fmt, mode), 200, id=f"image-{fmt}-{mode}")
    for fmt, mode in [
        ("ICO", "RGBA"),
        ("PPM", "RGB"),
        ("PCX", "RGB"),
        ("TGA", "RGB"),
        ("EPS", "RGB"),
    ]:
        yield _embed_image(
            _image(fmt, mode),
            422,
            "invalid_image",
            "unrecognised image format",
            f"image-format-refused-{fmt}",
        )
    yield _embed_image(
        photo[: len(photo) // 2], 422, "invalid_image", "truncated", "image-truncated-jpeg"
    )
    yield _embed_image(
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "invalid_image", "image", "image-broken-png"
    )
    yield _embed_image(b"random bytes", 422, "invalid_image", "unrecognised", "image-random")
    yield Case(
        "image-empty", "POST", "/embed", 422, "invalid_image", "empty", body={"images": [""]}
    )
    yield Case(
        "image-bad-base64",
        "POST",
        "/embed",
        422,
        "invalid_base64",
        "images[0]",
        body={"images": ["not base64!"]},
    )
    yield Case(
        "image-data-url-ok",
        "POST",
        "/embed",
        200,
        body={"images": ["data:image/jpeg;base64," + good]},
    )
    # --- POST /images
    yield _index(
        {"image": good, "metadata": {"thumbnail": "x"}},
        422,
        "invalid_metadata",
        "reserved",
        "metadata-reserved-key",
    )
    yield _index(
        {"image": good, "metadata": [1]}, 422, "validation_error", "metadata", "metadata-not-object"
    )
    yield _index(
        {"image": good, "filename": "x" * 1001},
        422,
        "validation_error",
        "filename",
        "filename-too-long",
    )
    yield _index(
        {"image": good, "extra": 1}, 422, "validation_error", "extra", "image-item-unknown-field"
    )
    yield Case(
        "index-no-images", "POST", "/images", 422, "validation_error", "images", body={"images": []}
    )
    yield Case(
        "index-too-many",
        "POST",
        "/images",
        413,
        "payload_too_large",
        "5 images",
        body={"images": [{"image": good}] * 5},
    )
    # --- multipart
    yield Case(
        "multipart-no-files",
        "POST",
        "/images",
        422,
        "validation_error",
        "'images'",
        data={"metadata": "{}"},
        files=[],
    )
    yield Case(
        "multipart-metadata-not-json",
        "POST",
        "/images",
        422,
        "invalid_json",
        "form field 'metadata'",
        data={"metadata": "{oops"},
        files=[("images", ("a.jpg", photo, "image/jpeg"))],
    )
    yield Case(
        "multipart-metadata-surrogate",
        "POST",
        "/images",
        422,
        "validation_error",
        "metadata.album: text is not valid Unicode",
        data={"metadata": '{"album": "\\ud800"}'},
        files=[("images", ("a.jpg", photo, "image/jpeg"))],
    )
    yield Case(
        "multipart-filters-nested-deep",
        "POST",
        "/search",
        422,
        "invalid_json",
        "nested too deeply",
        data={"text": "a", "filters": "[" * 100_000 + "]" * 100_000},
    )
    yield Case(
        "multipart-metadata-count",
        "POST",
        "/images",
        422,
        "invalid_metadata",
        "2 objects for 1 files",
        data={"metadata": "[{}, {}]"},
        files=[("images", ("a.jpg", photo, "image/jpeg"))],
    )
    yield Case(
        "multipart-too-many-files",
        "POST",
        "/embed",
        413,
        "payload_too_large",
        "MAX_ITEMS_PER_REQUEST",
        files=[("images", (f"{i}.jpg", photo, "image/jpeg")) for i in range(5)],
    )
    yield Case(
        "multipart-file-too-large",
        "POST",
        "/embed",
        413,
        "payload_too_large",
        "the limit is 300000",
        files=[("images", ("a.jpg", b"\0" * 300_001, "image/jpeg"))],
    )
    yield Case(
        "multipart-empty-file",
        "POST",
        "/embed",
        422,
        "invalid_image",
        "empty",
        files=[("images", ("a.jpg", b"", "image/jpeg"))],
    )
    yield Case(
        "multipart-broken",
        "POST",
        "/embed",
        400,
        "invalid_multipart",
        "multipart",
        raw=b'--b\r\nContent-Disposition: form-data; name="texts"\r\n\r\nx',
        headers={"content-type": "multipart/form-data"},
    )
    # Starlette decodes form fields with replacement characters: never an error.
    yield Case(
        "multipart-not-utf8-field-replaced",
        "POST",
        "/embed",
        200,
        "",
        "",
        raw=b'--b\r\nContent-Disposition: form-data; name="texts"\r\n\r\n\xff\xfe\r\n--b--\r\n',
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    yield Case(
        "multipart-filters-not-json",
        "POST",
        "/search",
        422,
        "invalid_json",
        "form field 'filters'",
        data={"text": "a", "filters": "{oops"},
    )
    yield Case(
        "multipart-filename-too-long",
        "POST",
        "/images",
        422,
        "validation_error",
        "longer than 1000",
        files=[("images", ("x" * 1001, photo, "image/jpeg"))],
    )
    yield Case(
        "multipart-classify-no-image",
        "POST",
        "/classify",
        422,
        "validation_error",
        "'image' field",
        data={"labels": ["gatto"]},
    )
    # --- methods, paths, origins
    yield Case("method-put-image", "PUT", f"/images/{UUID}", 405, "method_not_allowed")
    yield Case("method-get-embed", "GET", "/embed", 405, "method_not_allowed")
    yield Case("unknown-path", "GET", "/nowhere", 404, "not_found", "Not Found")
    yield Case(
        "cross-origin-index",
        "POST",
        "/images",
        403,
        "cross_origin",
        "evil.example",
        body={"images": [{"image": good}]},
        headers={"origin": "https://evil.example"},
    )
    yield Case(
        "cross-origin-delete",
        "DELETE",
        f"/images/{UUID}",
        403,
        "cross_origin",
        "SGUARDO_ALLOWED_ORIGINS",
        headers={"origin": "null"},
    )
    yield Case(
        "same-origin-index-ok",
        "POST",
        "/images",
        200,
        body={"images": [{"image": good}]},
        headers={"origin": "http://testserver"},
    )
    yield Case(
        "allowed-origin-search-ok",
        "POST",
        "/search",
        200,
        body={"text": "gatto"},
        headers={"origin": "https://app.example"},
    )


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> bytes:
    path = sorted((shared_data / "imagenet-sample-it" / "images").glob("*.jpg"))[0]
    image = Image.open(path)
    image.thumbnail((160, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(tiny_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        bundle_path=tiny_bundle_dir,
        store_kind="embedded",
        store_path=tmp_path_factory.mktemp("bad-inputs") / "store",
        demo_gallery=False,
        max_wait_ms=2,
        max_queue=64,
        intra_op_threads=1,
        log_level="CRITICAL",
        limits=LIMITS,  # type: ignore[arg-type]
        allowed_origins=["https://app.example"],
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


CASES = list(catalogue(b"\xff\xd8placeholder"))  # ids only; the real photo comes per test


def _send(client: TestClient, case: Case) -> Any:
    kwargs: dict[str, Any] = {"headers": dict(case.headers)}
    if case.raw is not None:
        kwargs["content"] = case.raw
    elif case.files is not None or case.data is not None:
        # Fields alone go urlencoded, with files multipart: the service reads both as a form.
        kwargs["data"] = case.data
        kwargs["files"] = case.files or None
    elif case.method in ("POST", "PUT") or case.body is not None:
        kwargs["content"] = json.dumps(case.body)
        kwargs["headers"].update(JSON_TYPE)
    return client.request(case.method, case.path, **kwargs)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.id for c in CASES])
def test_bad_input(client: TestClient, photo: bytes, index: int) -> None:
    case = catalogue(photo)[index]
    response = _send(client, case)
    assert response.status_code == case.status, (case.id, response.text[:500])
    if case.status >= 400:
        error = response.json()["error"]
        assert error["code"] == case.code, error
        assert case.says.lower() in error["message"].lower(), error
        assert len(error["message"]) <= 1100, "messages echo bounded input"
    if case.status == 405:
        assert response.headers["allow"], "a 405 says what is allowed"
    # Whatever came before, the service still answers, and still embeds.
    assert client.get("/readyz").status_code == 200
    assert client.post("/embed", json={"texts": ["ancora vivo"]}).status_code == 200


def test_the_catalogue_has_at_least_100_cases() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES), "ids are unique"


def test_405_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.put(f"/images/{UUID}")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "DELETE"} <= allowed


def test_ids_come_back_canonical(client: TestClient, photo: bytes) -> None:
    indexed = client.post("/images", json={"images": [{"image": b64(photo)}]}).json()
    canonical = indexed["images"][0]["id"]
    for form in (
        canonical.upper(),
        "{" + canonical + "}",
        "urn:uuid:" + canonical,
        canonical.replace("-", ""),
    ):
        record = client.get(f"/images/{form}")
        assert record.status_code == 200, record.text
        assert record.json()["id"] == canonical
        assert record.json()["thumbnail_url"] == f"/images/{canonical}/thumbnail"
    deleted = client.delete(f"/images/{canonical.upper()}")
    assert deleted.json() == {"id": canonical, "deleted": True}
