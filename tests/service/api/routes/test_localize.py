"""POST /localize: a heatmap and a box per phrase; ids answered with a clear 422; bad input 4xx."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sguardo.service.encoders.onnxruntime import OnnxRuntimeEncoder

from ..conftest import MakeClient, assert_error, b64

PHRASES = ["una persona con un ombrello", "un cane"]


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def test_localize_json_gives_a_heatmap_and_a_box_per_phrase(
    client: TestClient, jpegs: list[bytes]
) -> None:
    image = jpegs[5]  # a COCO photo
    width, height = Image.open(io.BytesIO(image)).size
    response = client.post("/localize", json={"image": b64(image), "phrases": PHRASES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (width, height)
    rows, cols = body["grid"]
    assert max(rows, cols) == 32  # SGUARDO_LOCALIZE__GRID_CELLS
    assert 1 < body["crops"] <= 256
    assert (body["method"], body["dense_maps"]) == ("crops", 0)  # a ViT bundle: crops alone
    assert [r["phrase"] for r in body["results"]] == PHRASES
    for result in body["results"]:
        heat = result["heatmap"]
        assert len(heat) == rows and all(len(row) == cols for row in heat)
        values = [v for row in heat for v in row]
        assert min(values) >= 0 and max(values) == 1
        box = result["box"]
        assert 0 <= box["left"] < box["right"] <= width
        assert 0 <= box["top"] < box["bottom"] <= height
        x, y = result["point"]
        assert box["left"] <= x <= box["right"] and box["top"] <= y <= box["bottom"]
        assert 0 <= result["score"] <= 1


def test_a_cnn_bundle_adds_its_dense_map(
    make_client: MakeClient,
    cnn_bundle_dir: Path,
    jpegs: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shapes: list[tuple[int, ...]] = []
    run_dense = OnnxRuntimeEncoder.encode_dense

    def recorded(self: OnnxRuntimeEncoder, pixel_values: np.ndarray) -> np.ndarray:
        shapes.append(pixel_values.shape)
        return run_dense(self, pixel_values)

    monkeypatch.setattr(OnnxRuntimeEncoder, "encode_dense", recorded)
    client = make_client(bundle_path=cnn_bundle_dir, localize={"dense_sides": [256, 320]})
    assert shapes == [(1, 3, 64, 64)]  # the warm-up ran the dense session before traffic
    response = client.post("/localize", json={"image": b64(jpegs[5]), "phrases": PHRASES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["method"], body["dense_maps"]) == ("crops+dense", 4)
    rows, cols = body["grid"]
    for result in body["results"]:
        values = [v for row in result["heatmap"] for v in row]
        assert len(values) == rows * cols and min(values) == 0 and max(values) == 1


def test_localize_multipart_matches_json(client: TestClient) -> None:
    image = _png(120, 80)
    as_json = client.post("/localize", json={"image": b64(image), "phrases": PHRASES}).json()
    as_form = client.post(
        "/localize", files={"image": ("x.png", image, "image/png")}, data={"phrases": PHRASES}
    )
    assert as_form.status_code == 200, as_form.text
    assert as_form.json()["results"] == as_json["results"]


def test_the_crop_budget_bounds_each_request(make_client: MakeClient) -> None:
    client = make_client(localize={"max_crops": 20, "scales": [0.2, 0.5]})
    body = client.post("/localize", json={"image": b64(_png(200, 100)), "phrases": ["x"]}).json()
    assert body["crops"] <= 20


def test_an_indexed_id_is_localized_in_its_original(
    client: TestClient, jpegs: list[bytes], tmp_path: Path
) -> None:
    indexed = client.post("/images", json={"images": [{"image": b64(jpegs[0])}]})
    image_id = indexed.json()["images"][0]["id"]
    by_id = client.post("/localize", json={"id": image_id, "phrases": ["un gatto"]})
    assert by_id.status_code == 200, by_id.text
    by_bytes = client.post("/localize", json={"image": b64(jpegs[0]), "phrases": ["un gatto"]})
    assert by_id.json() == by_bytes.json()  # the original's pixels, not the thumbnail's
    (tmp_path / "originals" / image_id[:2] / image_id).unlink()  # indexed before originals
    response = client.post("/localize", json={"id": image_id, "phrases": ["un gatto"]})
    assert_error(response, 409, "original_missing", "send the image itself")
    unknown = "00000000-0000-4000-8000-000000000000"
    missing = client.post("/localize", json={"id": unknown, "phrases": ["un gatto"]})
    assert_error(missing, 404, "not_found")


def test_localize_errors(make_client: MakeClient) -> None:
    client = make_client(localize={"max_phrases": 2}, limits={"max_text_chars": 20})
    image = b64(_png(64, 64))
    post = client.post
    assert_error(post("/localize", json={"image": image, "phrases": []}), 422, "validation_error")
    assert_error(post("/localize", json={"image": image}), 422, "validation_error", "phrases")
    blank = post("/localize", json={"image": image, "phrases": ["  "]})
    assert_error(blank, 422, "validation_error", "empty")
    many = post("/localize", json={"image": image, "phrases": ["a", "b", "c"]})
    assert_error(many, 413, "payload_too_large", "MAX_PHRASES")
    long = post("/localize", json={"image": image, "phrases": ["x" * 21]})
    assert_error(long, 413, "payload_too_large", "characters")
    neither = post("/localize", json={"phrases": ["un gatto"]})
    assert_error(neither, 422, "validation_error", "exactly one of image or id")
    both = post(
        "/localize",
        json={"image": image, "id": "00000000-0000-4000-8000-000000000000", "phrases": ["x"]},
    )
    assert_error(both, 422, "validation_error", "exactly one")
    bad_image = post("/localize", json={"image": b64(b"not an image"), "phrases": ["x"]})
    assert_error(bad_image, 422, "invalid_image")
    bad_base64 = post("/localize", json={"image": "%%%", "phrases": ["x"]})
    assert_error(bad_base64, 422, "invalid_base64")
    bad_id = post("/localize", json={"id": "not-a-uuid", "phrases": ["x"]})
    assert bad_id.status_code == 422 and "not-a-uuid" in bad_id.text
    no_file = post("/localize", data={"phrases": ["x"]})
    assert_error(no_file, 422, "validation_error", "exactly one")


def test_localize_is_documented_with_its_limits(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/localize"]["post"]
    assert "SGUARDO_LOCALIZE__MAX_CROPS" in operation["description"]
    assert "SGUARDO_LOCALIZE__MAX_PHRASES" in operation["description"]
    content = operation["requestBody"]["content"]
    assert "phrases" in content["application/json"]["schema"]["properties"]
    assert content["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert {"200", "404", "413", "422"} <= set(operation["responses"])
