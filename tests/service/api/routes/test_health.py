"""GET /healthz, /readyz, /version, /metrics; request ids; JSON errors for unknown routes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from sguardo.service.store.factory import open_store

from ..conftest import MakeClient, assert_error


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    checks = {"bundle": True, "store": True, "collection": True, "encoder": True}
    assert ready.json()["checks"] == checks


def test_version(client: TestClient) -> None:
    body = client.get("/version").json()
    assert body["bundle_id"].startswith(body["model_id"] + "@")
    assert body["collection"] == "images" and body["embedding_dim"] == 16
    assert body["precision"] == "fp32" and body["service_version"]
    assert body["encoder"]["backend"] == "onnxruntime"
    assert body["encoder"]["active_providers"] == ["CPUExecutionProvider"]


def test_metrics(client: TestClient) -> None:
    client.post("/embed", json={"texts": ["ciao"]})
    client.post("/embed", json={})
    client.post("/embed", json={"texts": ["x" * 2000]})
    text = client.get("/metrics").text
    assert 'sguardo_rejected_requests_total{reason="payload_too_large"} 1.0' in text
    assert 'sguardo_requests_total{endpoint="/embed",method="POST",status="200"} 1.0' in text
    assert 'sguardo_requests_total{endpoint="/embed",method="POST",status="422"} 1.0' in text
    assert 'sguardo_request_duration_seconds_bucket{endpoint="/embed"' in text
    # two text batches: the start's warm-up, then the request
    assert 'sguardo_batch_size_count{tower="text"} 2.0' in text
    assert 'sguardo_queue_depth{tower="text"} 0.0' in text
    assert 'sguardo_encoder_duration_seconds_count{tower="text"} 2.0' in text
    assert 'sguardo_store_duration_seconds_count{operation="ensure_collection"}' in text
    bundle_id = client.get("/version").json()["bundle_id"]
    assert f'bundle_id="{bundle_id}"' in text and 'providers="CPUExecutionProvider"' in text


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32


def test_unknown_routes_and_methods_are_json_errors(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/embed"), 405, "method_not_allowed")


def test_openapi_documents_both_body_encodings(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/search"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    assert "text" in body["application/json"]["schema"]["properties"]
    assert client.get("/docs").status_code == 200


def test_collection_of_another_model_is_409_and_not_ready(
    make_client: MakeClient, tmp_path: Path
) -> None:
    store = open_store("embedded", path=tmp_path / "store")
    store.ensure_collection("images", "altro/modello@0123456789abcdef", 16)
    store.close()
    client = make_client()
    response = client.post("/search", json={"text": "gatto"})
    assert_error(response, 409, "model_mismatch", "altro/modello")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "altro/modello" in ready.json()["detail"]["collection"]
    assert client.post("/embed", json={"texts": ["gatto"]}).status_code == 200


def test_serving_the_registrys_current_bundle(
    make_client: MakeClient, tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    """SGUARDO_BUNDLE_PATH=<registry>/current: the link is read once, at start-up."""
    from sguardo.bundle.loader import Bundle
    from sguardo.bundle.registry import Registry

    registry = Registry(tmp_path / "registry")
    registry.promote(registry.add(tiny_bundle_dir)[0].id)
    client = make_client(bundle_path=registry.root / "current")
    assert client.get("/version").json()["bundle_id"] == Bundle.load(tiny_bundle_dir).bundle_id
    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.bundle.directory == registry.bundles / registry.current()
