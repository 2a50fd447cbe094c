"""Hot reload through the admin API, in process: a rollout from bundle A to bundle B and back.

The service follows the registry's `current` link and the alias; it switches only when both
name the same bundle, and each request is answered by one model from start to end.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sguardo.bundle.loader import Bundle
from sguardo.bundle.registry import Registry, entry_id
from sguardo.service.app import services as services_module
from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings
from sguardo.service.store.aliased import collection_name

TOKEN = "admin-secret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def photos(shared_data: Path) -> list[bytes]:
    paths = sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[:5]
    assert len(paths) == 5
    return [p.read_bytes() for p in paths]


@pytest.fixture(params=["embedded", "qdrant-local"])
def rollout(
    request: pytest.FixtureRequest,
    tiny_bundle_dir: Path,
    tiny_bundle_dir_b: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[TestClient, Registry, str, str]]:
    """The same rollout on both store adapters: the embedded store, and the Qdrant-server
    adapter over qdrant-client's local mode (the contract tests' stand-in for a server)."""
    if request.param == "qdrant-local":
        from sguardo.service.store.qdrant_server import QdrantServerStore

        monkeypatch.setattr(
            services_module,
            "open_configured_store",
            lambda settings: QdrantServerStore(location=":memory:"),
        )
    registry = Registry(tmp_path / "registry")
    a, _ = registry.add(tiny_bundle_dir)
    b, _ = registry.add(tiny_bundle_dir_b)
    registry.promote(a.id)
    settings = Settings(
        bundle_path=registry.root / "current",
        registry_path=registry.root,
        store_path=tmp_path / "store",
        originals_path=tmp_path / "originals",
        demo_gallery=False,
        reload_poll_s=0,  # the test triggers each check
        admin_token=TOKEN,
        max_wait_ms=1,
        intra_op_threads=1,
        log_level="WARNING",
    )
    with TestClient(create_app(settings)) as client:
        yield client, registry, a.id, b.id


def _index(client: TestClient, photos: list[bytes]) -> list[str]:
    body = {"images": [{"image": base64.b64encode(p).decode()} for p in photos]}
    response = client.post("/images", json=body)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["images"]]


def _search(client: TestClient) -> dict:
    response = client.post("/search", json={"text": "un gatto sul divano", "top_k": 50})
    assert response.status_code == 200, response.text
    return response.json()


def _wait_reindex(client: TestClient) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get("/admin/reindex", headers=ADMIN).json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"reindex still running: {status}")


def test_admin_endpoints_need_the_token(rollout, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    client, *_ = rollout
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Bearer no"}).status_code == 403
    assert client.post("/admin/reload", headers=ADMIN).status_code == 200
    # Bad reindex requests are refused before anything runs.
    _, _, _, b = rollout
    other = client.post("/admin/reindex", headers=ADMIN, json={"bundle": b, "alias": "altro"})
    assert other.status_code == 422 and "altro" in other.json()["error"]["message"]
    missing = client.post("/admin/reindex", headers=ADMIN, json={"bundle": "no-such-bundle"})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_bundle"
    assert client.get("/admin/reindex", headers=ADMIN).json()["state"] == "idle"
    settings = Settings(  # no SGUARDO_ADMIN_TOKEN: the admin endpoints are off
        bundle_path=tiny_bundle_dir, store_path=tmp_path / "off", demo_gallery=False
    )
    with TestClient(create_app(settings)) as off:
        response = off.post("/admin/reload", headers=ADMIN)
    assert response.status_code == 403 and response.json()["error"]["code"] == "admin_disabled"


def test_rollout_switches_only_when_registry_and_alias_agree(rollout, photos) -> None:
    client, registry, a, b = rollout
    ids = _index(client, photos[:4])
    a_id = client.get("/version").json()["bundle_id"]
    before = _search(client)
    assert before["bundle_id"] == a_id
    b_collection = collection_name("images", Bundle.load(registry.get(b).directory).bundle_id)

    # B is current but has no collection yet: A keeps serving, and says why.
    registry.promote(b)
    result = client.post("/admin/reload", headers=ADMIN).json()
    assert result["changed"] is False and "not usable" in result["pending"]
    assert client.get("/readyz").status_code == 200  # A and its collection still match
    assert "rollout" in client.get("/readyz").json()["detail"]

    # Reindex B's collection from the originals, in the service.
    started = client.post("/admin/reindex", headers=ADMIN, json={"bundle": b})
    assert started.status_code == 202, started.text
    status = _wait_reindex(client)
    assert status["state"] == "done", status
    assert status["target"] == b_collection and status["total"] == 4
    # The alias still points at A's collection: B waits, loaded and warm.
    result = client.post("/admin/reload", headers=ADMIN).json()
    assert result["changed"] is False and "alias" in result["pending"]
    assert _search(client)["bundle_id"] == a_id

    # A write while the rollout is under way lands in A's collection ...
    late = _index(client, photos[4:5])[0]
    # ... so B's collection no longer holds everything: the swap refuses.
    refused = client.post("/admin/swap", headers=ADMIN, json={"collection": b_collection})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "collection_incomplete"
    # Reindexing again resumes (only the new image is embedded), then the swap goes through.
    client.post("/admin/reindex", headers=ADMIN, json={"bundle": b})
    status = _wait_reindex(client)
    assert status["state"] == "done" and status["report"]["reindex"]["embedded"] == 1, status
    swapped = client.post("/admin/swap", headers=ADMIN, json={"collection": b_collection})
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["reload"]["changed"] is True

    version = client.get("/version").json()
    b_id = version["bundle_id"]
    assert b_id != a_id and version["physical_collection"] == b_collection
    assert version["pending"] is None
    after = _search(client)
    assert after["bundle_id"] == b_id
    assert {h["id"] for h in after["hits"]} == set(ids) | {late}
    # Another model: other scores for the same query and images.
    assert [h["score"] for h in after["hits"]] != [h["score"] for h in before["hits"]]
    metrics = client.get("/metrics").text
    assert 'sguardo_model_reloads_total{outcome="switched"} 1.0' in metrics
    assert f'bundle_id="{b_id}"' in metrics and f'sguardo_model_info{{bundle_id="{a_id}"' not in (
        metrics
    )

    # Roll back: the registry first, then the alias; the service follows.
    registry.rollback()
    result = client.post("/admin/reload", headers=ADMIN).json()
    assert result["changed"] is False and result["bundle_id"] == b_id
    a_collection = collection_name("images", Bundle.load(registry.get(a).directory).bundle_id)
    back = client.post("/admin/swap", headers=ADMIN, json={"collection": a_collection})
    assert back.status_code == 200, back.text
    assert back.json()["reload"] == {"bundle_id": a_id, "changed": True, "pending": None}
    assert _search(client)["bundle_id"] == a_id


def test_writes_during_the_rollout_are_caught_up(rollout, photos) -> None:
    client, registry, _a, b = rollout
    _index(client, photos[:3])
    b_collection = collection_name("images", Bundle.load(registry.get(b).directory).bundle_id)
    client.post("/admin/reindex", headers=ADMIN, json={"bundle": b})
    assert _wait_reindex(client)["state"] == "done"
    # Swap first (verified), then a write, still served by A into A's collection ...
    assert (
        client.post("/admin/swap", headers=ADMIN, json={"collection": b_collection}).status_code
        == 200
    )
    late = _index(client, photos[3:4])[0]
    # ... then promote: the switch copies it into B's collection.
    registry.promote(b)
    assert client.post("/admin/reload", headers=ADMIN).json()["changed"] is True
    deadline = time.monotonic() + 30
    while client.get(f"/images/{late}").status_code != 200:
        assert time.monotonic() < deadline, "the late write never reached the new collection"
        time.sleep(0.05)
    assert client.get("/version").json()["physical_collection"] == b_collection


def test_a_broken_current_bundle_keeps_the_old_one_serving(rollout, tmp_path: Path) -> None:
    client, registry, _a, b = rollout
    registry.promote(b)
    entry = registry.get(b)
    (entry.directory / "tokenizer.json").chmod(0o644)
    (entry.directory / "tokenizer.json").write_text("{}")  # altered after export
    result = client.post("/admin/reload", headers=ADMIN).json()
    assert result["changed"] is False and "altered" in result["pending"]
    assert client.get("/readyz").status_code == 200
    assert 'sguardo_model_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text
    assert entry_id(entry.manifest) == b


def test_a_triton_backed_service_is_not_hot_reloaded(rollout) -> None:
    """Triton runs whatever graphs it was given: switching the tokenizer and bundle id alone
    would mix two models, so the service says what to do instead."""
    client, registry, _a, b = rollout
    client.app.state.services.settings.encoder_backend = "triton"  # as if it served via Triton
    registry.promote(b)
    result = client.post("/admin/reload", headers=ADMIN).json()
    assert result["changed"] is False and "Triton" in result["pending"]
    assert client.post("/admin/reindex", headers=ADMIN, json={"bundle": b}).status_code == 202
    status = _wait_reindex(client)
    assert status["state"] == "failed" and "sguardo collection reindex" in status["error"]
