"""POST /classify: zero-shot labels with Italian templates."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sguardo.service.embedding.classify import default_templates

from ..conftest import MakeClient, assert_error, b64

LABELS = ["un gatto", "un cane", "una pizza", "un treno"]


def test_classify_json(client: TestClient, jpegs: list[bytes]) -> None:
    response = client.post("/classify", json={"image": b64(jpegs[0]), "labels": LABELS})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["templates"] == list(default_templates()) and "una foto di {}." in body["templates"]
    scores = [x["score"] for x in body["labels"]]
    assert sorted(x["label"] for x in body["labels"]) == sorted(LABELS)
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert all(-1.0 <= x["similarity"] <= 1.0 for x in body["labels"])


def test_classify_multipart_with_custom_templates(client: TestClient, jpegs: list[bytes]) -> None:
    as_json = client.post(
        "/classify",
        json={"image": b64(jpegs[1]), "labels": LABELS, "templates": ["{} in primo piano"]},
    ).json()
    as_form = client.post(
        "/classify",
        files={"image": ("x.jpg", jpegs[1], "image/jpeg")},
        data={"labels": LABELS, "templates": ["{} in primo piano"]},
    )
    assert as_form.status_code == 200, as_form.text
    assert as_form.json()["labels"] == as_json["labels"]
    assert as_form.json()["templates"] == ["{} in primo piano"]


def test_classify_errors(make_client: MakeClient, jpegs: list[bytes]) -> None:
    client = make_client(limits={"max_labels": 3})
    image = b64(jpegs[0])
    assert_error(
        client.post("/classify", json={"image": image, "labels": []}), 422, "validation_error"
    )
    blank = client.post("/classify", json={"image": image, "labels": [" "]})
    assert_error(blank, 422, "validation_error", "non-empty")
    too_many = client.post("/classify", json={"image": image, "labels": LABELS})
    assert_error(too_many, 413, "payload_too_large", "4 labels")
    bad_template = client.post(
        "/classify", json={"image": image, "labels": ["gatto"], "templates": ["senza segnaposto"]}
    )
    assert_error(bad_template, 422, "validation_error", "{}")
    no_file = client.post("/classify", data={"labels": ["gatto"]})
    assert_error(no_file, 422, "validation_error", "image")
    bad_image = client.post("/classify", json={"image": b64(b"??"), "labels": ["gatto"]})
    assert_error(bad_image, 422, "invalid_image")
    assert_error(client.post("/classify", json={"labels": ["gatto"]}), 422, "validation_error")
