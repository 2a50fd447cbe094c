"""The series the alerts need beyond request metrics: readiness, the collection (size, and the
bundle that built it) as of each scrape, and each batching queue's bound."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings
from sguardo.service.store.base import StoreUnavailableError
from sguardo.service.store.factory import open_store

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def per_tower(samples: Samples, name: str) -> dict[str, float]:
    return {labels["tower"]: value for labels, value in samples[name]}


@pytest.fixture
def make_client(tiny_bundle_dir: Path, tmp_path: Path) -> Iterator[Callable[[], TestClient]]:
    clients: list[TestClient] = []

    def make() -> TestClient:
        settings = Settings(
            bundle_path=tiny_bundle_dir,
            store_path=tmp_path / "store",
            demo_gallery=False,
            max_queue=77,
            log_level="WARNING",
        )
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_ready_collection_and_queue_capacity_follow_the_service(
    make_client: Callable[[], TestClient], shared_data: Path
) -> None:
    client = make_client()
    samples = scrape(client)
    assert samples["sguardo_ready"] == [({}, 1.0)]
    assert per_tower(samples, "sguardo_queue_capacity") == {"text": 77, "vision": 77}
    assert per_tower(samples, "sguardo_queue_depth") == {"text": 0, "vision": 0}
    [(model, _)] = samples["sguardo_model_info"]
    [(collection, value)] = samples["sguardo_collection_info"]
    assert value == 1 and collection["alias"] == "images"
    assert collection["bundle_id"] == model["bundle_id"]
    assert samples["sguardo_collection_points"] == [
        ({"alias": "images", "collection": collection["collection"]}, 0.0)
    ]

    photo = next((shared_data / "coco128" / "images" / "val2017").glob("*.jpg")).read_bytes()
    body = {"images": [{"image": base64.b64encode(photo).decode(), "filename": "a.jpg"}]}
    assert client.post("/images", json=body).status_code == 200
    [(_, points)] = scrape(client)["sguardo_collection_points"]
    assert points == 1


def test_a_collection_of_another_bundle_shows_in_the_metrics(
    make_client: Callable[[], TestClient], tmp_path: Path
) -> None:
    store = open_store("embedded", path=tmp_path / "store")
    store.ensure_collection("images", "another/model@0123", 16)
    store.close()
    client = make_client()
    samples = scrape(client)
    assert samples["sguardo_ready"] == [({}, 0.0)]
    [(collection, _)] = samples["sguardo_collection_info"]
    [(model, _)] = samples["sguardo_model_info"]
    assert collection["bundle_id"] == "another/model@0123" != model["bundle_id"]


def test_an_unreachable_store_is_not_ready_and_has_no_collection_series(
    make_client: Callable[[], TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    store = client.app.state.services.store  # type: ignore[attr-defined]

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError("Qdrant does not answer")

    monkeypatch.setattr(store, "healthy", lambda: False)
    monkeypatch.setattr(store, "info", down)
    samples = scrape(client)
    assert samples["sguardo_ready"] == [({}, 0.0)]
    assert "sguardo_collection_info" not in samples
    assert "sguardo_collection_points" not in samples
