"""POST /search: by text, by image (base64 or upload), by id; filters, threshold, errors."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from sguardo.service.store.base import StoreUnavailableError

from ..conftest import MakeClient, assert_error, b64


@pytest.fixture
def gallery(client: TestClient, jpegs: list[bytes]) -> list[str]:
    items = [
        {
            "image": b64(x),
            "filename": f"{i}.jpg",
            "metadata": {"album": "mare" if i < 3 else "monti"},
        }
        for i, x in enumerate(jpegs[:6])
    ]
    response = client.post("/images", json={"images": items})
    assert response.status_code == 200, response.text
    return [x["id"] for x in response.json()["images"]]


def test_search_by_text(client: TestClient, gallery: list[str]) -> None:
    response = client.post("/search", json={"text": "un cane sulla spiaggia", "top_k": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "text" and body["collection"] == "images" and body["model_id"]
    hits = body["hits"]
    assert len(hits) == 4 and {h["id"] for h in hits} <= set(gallery)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(h["thumbnail_url"] == f"/images/{h['id']}/thumbnail" for h in hits)
    assert all("thumbnail" not in h["payload"] and "album" in h["payload"] for h in hits)


def test_search_by_image_finds_that_image_first(
    client: TestClient, gallery: list[str], jpegs: list[bytes]
) -> None:
    as_json = client.post("/search", json={"image": b64(jpegs[2]), "top_k": 3}).json()
    assert as_json["query"] == "image"
    assert as_json["hits"][0]["id"] == gallery[2]
    assert as_json["hits"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    files = {"image": ("q.jpg", jpegs[2], "image/jpeg")}
    as_form = client.post("/search", files=files, data={"top_k": "3"}).json()
    assert [h["id"] for h in as_form["hits"]] == [h["id"] for h in as_json["hits"]]


def test_search_by_id_leaves_the_image_itself_out(client: TestClient, gallery: list[str]) -> None:
    body = client.post("/search", json={"id": gallery[0], "top_k": 3}).json()
    assert body["query"] == "id"
    ids = [h["id"] for h in body["hits"]]
    assert len(ids) == 3 and gallery[0] not in ids


def test_filters_and_threshold(client: TestClient, gallery: list[str]) -> None:
    body = client.post(
        "/search", json={"text": "montagna", "top_k": 10, "filters": {"album": "monti"}}
    ).json()
    assert {h["id"] for h in body["hits"]} == set(gallery[3:6])
    as_form = client.post(
        "/search",
        data={"text": "montagna", "filters": json.dumps({"album": ["mare"]}), "top_k": "10"},
    ).json()
    assert {h["id"] for h in as_form["hits"]} == set(gallery[:3])
    ranked = client.post("/search", json={"text": "montagna", "top_k": 10}).json()["hits"]
    scores = [h["score"] for h in ranked]
    assert len(scores) == len(gallery) and scores[1] > scores[2]
    threshold = (scores[1] + scores[2]) / 2  # between the second and the third hit
    strict = client.post(
        "/search", json={"text": "montagna", "top_k": 10, "score_threshold": threshold}
    ).json()
    assert [h["id"] for h in strict["hits"]] == [h["id"] for h in ranked[:2]]


def test_exactly_one_query_kind(client: TestClient, gallery: list[str]) -> None:
    assert_error(client.post("/search", json={"top_k": 3}), 422, "validation_error", "exactly one")
    both = client.post("/search", json={"text": "gatto", "id": gallery[0]})
    assert_error(both, 422, "validation_error", "['text', 'id']")


def test_search_errors(make_client: MakeClient) -> None:
    client = make_client(limits={"max_text_chars": 5})
    assert_error(client.post("/search", json={"text": "troppo lungo"}), 413, "payload_too_large")
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_error(client.post("/search", json={"id": unknown}), 404, "not_found", unknown)
    assert_error(client.post("/search", json={"id": "x"}), 422, "invalid_id")
    assert_error(client.post("/search", json={"text": "a", "top_k": 0}), 422, "validation_error")
    bad_filter = client.post("/search", json={"text": "a", "filters": {"album": {"$ne": 1}}})
    assert_error(bad_filter, 422, "validation_error", "filters.album")
    response = client.post("/search", data={"text": "a", "filters": "{oops"})
    assert_error(response, 422, "invalid_json", "filters")
    assert_error(client.post("/search", json={"image": b64(b"nope")}), 422, "invalid_image")


def test_store_down_is_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store = client.app.state.services.store  # type: ignore[attr-defined]

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError("Qdrant at 127.0.0.1:6333 does not answer")

    monkeypatch.setattr(store, "search", down)
    monkeypatch.setattr(store, "healthy", lambda: False)
    response = client.post("/search", json={"text": "gatto"})
    assert_error(response, 503, "store_unavailable", "does not answer")
    assert response.headers["Retry-After"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["store"] is False


def test_real_unreachable_qdrant_server_is_503(make_client: MakeClient) -> None:
    client = make_client(
        store_kind="qdrant", qdrant_url="http://127.0.0.1:9", qdrant_prefer_grpc=False
    )
    assert client.post("/embed", json={"texts": ["ancora funziona"]}).status_code == 200
    assert_error(client.post("/search", json={"text": "gatto"}), 503, "store_unavailable")
    assert client.get("/readyz").status_code == 503


def test_protected_reads(make_client: MakeClient) -> None:
    client = make_client(api_key="k", protect_reads=True)
    assert_error(client.post("/search", json={"text": "gatto"}), 401, "unauthorized")
    response = client.post("/search", json={"text": "gatto"}, headers={"X-API-Key": "k"})
    assert response.status_code == 200 and response.json()["hits"] == []
