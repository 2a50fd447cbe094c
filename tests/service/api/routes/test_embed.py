"""POST /embed: JSON and multipart, limits, errors, and batching correctness over HTTP."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings

from ..conftest import MakeClient, assert_error, b64


def test_embeds_texts_and_images_as_json(client: TestClient, jpegs: list[bytes]) -> None:
    response = client.post(
        "/embed", json={"texts": ["un gatto sul divano", "due cani"], "images": [b64(jpegs[0])]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] and body["bundle_id"].startswith(body["model_id"] + "@")
    assert body["dim"] == 16
    text, image = np.asarray(body["text_vectors"]), np.asarray(body["image_vectors"])
    assert text.shape == (2, 16) and image.shape == (1, 16)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(image, axis=1), 1, atol=1e-5)


def test_multipart_upload_gives_the_same_vectors_as_base64(
    client: TestClient, jpegs: list[bytes]
) -> None:
    as_json = client.post("/embed", json={"texts": ["una pizza"], "images": [b64(jpegs[1])]})
    as_form = client.post(
        "/embed",
        data={"texts": ["una pizza"]},
        files=[("images", ("foto.jpg", jpegs[1], "image/jpeg"))],
    )
    assert as_form.status_code == 200, as_form.text
    for key in ("text_vectors", "image_vectors"):
        np.testing.assert_allclose(as_form.json()[key], as_json.json()[key], atol=1e-6)


def test_data_urls_are_accepted(client: TestClient, jpegs: list[bytes]) -> None:
    url = "data:image/jpeg;base64," + b64(jpegs[2])
    assert client.post("/embed", json={"images": [url]}).status_code == 200


def test_nothing_to_embed_is_422(client: TestClient) -> None:
    assert_error(client.post("/embed", json={}), 422, "validation_error", "at least one")


def test_unknown_fields_and_wrong_types_are_422(client: TestClient) -> None:
    assert_error(client.post("/embed", json={"txts": ["x"]}), 422, "validation_error", "txts")
    assert_error(client.post("/embed", json={"texts": "x"}), 422, "validation_error", "texts")


def test_too_many_items_is_413(make_client: MakeClient) -> None:
    client = make_client(limits={"max_items_per_request": 3})
    response = client.post("/embed", json={"texts": ["a", "b", "c", "d"]})
    assert_error(response, 413, "payload_too_large", "4 items")


def test_too_many_files_is_413(make_client: MakeClient, jpegs: list[bytes]) -> None:
    client = make_client(limits={"max_items_per_request": 2})
    files = [("images", (f"{i}.jpg", jpegs[i], "image/jpeg")) for i in range(3)]
    assert_error(client.post("/embed", files=files), 413, "payload_too_large")


def test_text_too_long_is_413(make_client: MakeClient) -> None:
    client = make_client(limits={"max_text_chars": 10})
    response = client.post("/embed", json={"texts": ["breve", "decisamente troppo lungo"]})
    assert_error(response, 413, "payload_too_large", "texts[1]")


def test_image_too_large_is_413_as_base64_and_as_upload(
    make_client: MakeClient, jpegs: list[bytes]
) -> None:
    limit = len(jpegs[0]) - 1
    client = make_client(limits={"max_image_bytes": limit})
    assert_error(client.post("/embed", json={"images": [b64(jpegs[0])]}), 413, "payload_too_large")
    files = [("images", ("big.jpg", jpegs[0], "image/jpeg"))]
    assert_error(client.post("/embed", files=files), 413, "payload_too_large", "big.jpg")


def test_whole_body_over_the_limit_is_413_before_reading(make_client: MakeClient) -> None:
    client = make_client(limits={"max_items_per_request": 1, "max_image_bytes": 1000})
    huge = "x" * 3_000_000
    assert_error(client.post("/embed", json={"texts": [huge]}), 413, "payload_too_large", "body")


def test_chunked_body_over_the_limit_is_413(make_client: MakeClient) -> None:
    client = make_client(limits={"max_items_per_request": 1, "max_image_bytes": 1000})

    def chunks() -> Iterator[bytes]:
        yield b'{"texts": ["'
        for _ in range(40):
            yield b"x" * 100_000
        yield b'"]}'

    response = client.post("/embed", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_bad_base64_is_422(client: TestClient) -> None:
    response = client.post("/embed", json={"images": ["not base64!"]})
    assert_error(response, 422, "invalid_base64", "images[0]")


def test_unreadable_image_is_422(client: TestClient) -> None:
    response = client.post("/embed", json={"images": [b64(b"GIF89a not really")]})
    assert_error(response, 422, "invalid_image", "image")


def test_too_many_pixels_is_refused_before_decoding(make_client: MakeClient) -> None:
    client = make_client(limits={"max_image_pixels": 10_000})
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(buffer, format="PNG")
    response = client.post("/embed", json={"images": [b64(buffer.getvalue())]})
    assert_error(response, 422, "invalid_image", "40000 pixels")


def test_wrong_content_type_is_415_and_bad_json_400(client: TestClient) -> None:
    response = client.post("/embed", content=b"ciao", headers={"content-type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")
    response = client.post("/embed", content=b"{", headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_json")


def test_full_queue_is_503_with_retry_after(make_client: MakeClient) -> None:
    client = make_client(max_queue=2)
    response = client.post("/embed", json={"texts": ["uno", "due", "tre"]})
    assert_error(response, 503, "overloaded", "queue full")
    assert int(response.headers["Retry-After"]) >= 1


def test_protected_reads_need_the_key(make_client: MakeClient) -> None:
    client = make_client(api_key="segreto", protect_reads=True)
    assert_error(client.post("/embed", json={"texts": ["x"]}), 401, "unauthorized", "X-API-Key")
    response = client.post("/embed", json={"texts": ["x"]}, headers={"X-API-Key": "sbagliato"})
    assert_error(response, 403, "forbidden")
    ok = client.post("/embed", json={"texts": ["x"]}, headers={"X-API-Key": "segreto"})
    assert ok.status_code == 200
    bearer = client.post(
        "/embed", json={"texts": ["x"]}, headers={"Authorization": "Bearer segreto"}
    )
    assert bearer.status_code == 200


def test_reads_stay_open_with_a_key_unless_protected(make_client: MakeClient) -> None:
    client = make_client(api_key="segreto")
    assert client.post("/embed", json={"texts": ["x"]}).status_code == 200


def test_concurrent_requests_are_batched_and_each_gets_its_unbatched_vector(
    make_settings: Callable[..., Settings], italian_sentences: list[str], jpegs: list[bytes]
) -> None:
    app = create_app(make_settings(max_batch_size=16, max_wait_ms=20))
    texts = [s * (1 + i % 3) for i, s in enumerate(italian_sentences)] * 2  # mixed lengths
    images = jpegs * 2

    async def run() -> tuple[np.ndarray, np.ndarray, list[httpx.Response], str]:
        async with app.router.lifespan_context(app):
            embedder = app.state.services.embedder
            expected_text = embedder.embed_texts_unbatched(texts)
            expected_image = np.concatenate([embedder.embed_images_unbatched([x]) for x in images])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                text_calls = [http.post("/embed", json={"texts": [t]}) for t in texts]
                image_calls = [http.post("/embed", json={"images": [b64(x)]}) for x in images]
                responses = await asyncio.gather(*text_calls, *image_calls)
                metrics = (await http.get("/metrics")).text
        return expected_text, expected_image, list(responses), metrics

    expected_text, expected_image, responses, metrics = asyncio.run(run())
    assert all(r.status_code == 200 for r in responses)
    got_text = np.asarray([r.json()["text_vectors"][0] for r in responses[: len(texts)]])
    got_image = np.asarray([r.json()["image_vectors"][0] for r in responses[len(texts) :]])
    np.testing.assert_allclose(got_text, expected_text, atol=1e-5)
    np.testing.assert_allclose(got_image, expected_image, atol=1e-5)
    # Fewer inference calls than requests: the batcher merged concurrent callers.
    for tower, count in (("text", len(texts)), ("vision", len(images))):
        warm_up = 1  # the start's warm-up ran one batch per tower
        batches = _sample(metrics, f'sguardo_batch_size_count{{tower="{tower}"}}') - warm_up
        assert 1 <= batches < count


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")
