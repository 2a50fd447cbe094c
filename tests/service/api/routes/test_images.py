"""POST /images, GET /images/{id}[/thumbnail], DELETE /images/{id}: idempotent, keyed writes."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient
from PIL import Image

from sguardo.service.store.ids import point_id_for_bytes

from ..conftest import MakeClient, assert_error, b64


def index_json(client: TestClient, images: list[bytes], **extra: object):
    items = [{"image": b64(x), "filename": f"foto{i}.jpg", **extra} for i, x in enumerate(images)]
    return client.post("/images", json={"images": items})


def test_index_get_thumbnail_delete(client: TestClient, jpegs: list[bytes]) -> None:
    response = index_json(client, jpegs[:2], metadata={"album": "vacanze", "anno": 2024})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 2 and body["existing"] == 0 and body["collection"] == "images"
    ids = [x["id"] for x in body["images"]]
    assert ids == [point_id_for_bytes(x) for x in jpegs[:2]]

    record = client.get(f"/images/{ids[0]}").json()
    assert record["id"] == ids[0]
    assert record["thumbnail_url"] == f"/images/{ids[0]}/thumbnail"
    payload = record["payload"]
    assert payload["album"] == "vacanze" and payload["anno"] == 2024
    assert payload["filename"] == "foto0.jpg" and "indexed_at" in payload
    assert "thumbnail" not in payload
    original = Image.open(io.BytesIO(jpegs[0]))
    assert (payload["width"], payload["height"]) == original.size

    thumb = client.get(record["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 192

    deleted = client.delete(f"/images/{ids[0]}")
    assert deleted.json() == {"id": ids[0], "deleted": True}
    assert_error(client.get(f"/images/{ids[0]}"), 404, "not_found", ids[0])
    assert_error(client.get(f"/images/{ids[0]}/thumbnail"), 404, "not_found")
    assert_error(client.delete(f"/images/{ids[0]}"), 404, "not_found")
    assert client.get(f"/images/{ids[1]}").status_code == 200


def test_indexing_the_same_image_twice_stores_it_once(
    client: TestClient, jpegs: list[bytes]
) -> None:
    first = index_json(client, [jpegs[0], jpegs[0]]).json()  # twice in one request, too
    assert first["created"] == 1 and first["existing"] == 1
    again = index_json(client, [jpegs[0]]).json()
    assert again["created"] == 0 and again["images"][0]["created"] is False
    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.store.info("images").count == 1


def test_multipart_with_per_file_metadata(client: TestClient, jpegs: list[bytes]) -> None:
    files = [("images", (f"scatto{i}.jpg", jpegs[i], "image/jpeg")) for i in range(2)]
    metadata = json.dumps([{"luogo": "Roma"}, {"luogo": "Como"}])
    response = client.post("/images", files=files, data={"metadata": metadata})
    assert response.status_code == 200, response.text
    ids = [x["id"] for x in response.json()["images"]]
    places = [client.get(f"/images/{i}").json()["payload"]["luogo"] for i in ids]
    assert places == ["Roma", "Como"]
    assert client.get(f"/images/{ids[1]}").json()["payload"]["filename"] == "scatto1.jpg"


def test_multipart_with_one_metadata_object_for_all(client: TestClient, jpegs: list[bytes]) -> None:
    files = [("images", (f"{i}.jpg", jpegs[i], "image/jpeg")) for i in range(2)]
    response = client.post("/images", files=files, data={"metadata": '{"album": "mare"}'})
    ids = [x["id"] for x in response.json()["images"]]
    assert all(client.get(f"/images/{i}").json()["payload"]["album"] == "mare" for i in ids)


def test_metadata_errors_are_422(client: TestClient, jpegs: list[bytes]) -> None:
    response = index_json(client, jpegs[:1], metadata={"filename": "x"})
    assert_error(response, 422, "invalid_metadata", "reserved")
    files = [("images", ("a.jpg", jpegs[0], "image/jpeg"))]
    response = client.post("/images", files=files, data={"metadata": '[{"a": 1}, {"a": 2}]'})
    assert_error(response, 422, "invalid_metadata", "2 objects for 1 files")
    response = client.post("/images", files=files, data={"metadata": "{non json"})
    assert_error(response, 422, "invalid_json", "metadata")
    response = client.post("/images", files=files, data={"metadata": "[1]"})
    assert_error(response, 422, "invalid_metadata", "JSON object")


def test_input_errors(make_client: MakeClient, jpegs: list[bytes]) -> None:
    client = make_client(limits={"max_items_per_request": 2})
    assert_error(client.post("/images", json={"images": []}), 422, "validation_error", "images")
    assert_error(index_json(client, jpegs[:3]), 413, "payload_too_large", "3 images")
    response = client.post("/images", json={"images": [{"image": b64(b"not an image")}]})
    assert_error(response, 422, "invalid_image")
    assert_error(client.post("/images", data={"metadata": "{}"}), 422, "validation_error")
    assert_error(client.get("/images/not-a-uuid"), 422, "invalid_id", "not-a-uuid")
    assert_error(client.delete("/images/not-a-uuid"), 422, "invalid_id")


def test_writes_need_the_key_and_reads_do_not(make_client: MakeClient, jpegs: list[bytes]) -> None:
    client = make_client(api_key="segreto")
    assert_error(index_json(client, jpegs[:1]), 401, "unauthorized")
    item = {"images": [{"image": b64(jpegs[0])}]}
    response = client.post("/images", json=item, headers={"X-API-Key": "no"})
    assert_error(response, 403, "forbidden")
    ok = client.post("/images", json=item, headers={"Authorization": "Bearer segreto"})
    assert ok.status_code == 200
    image_id = ok.json()["images"][0]["id"]
    assert client.get(f"/images/{image_id}").status_code == 200
    assert client.get(f"/images/{image_id}/thumbnail").status_code == 200
    assert_error(client.delete(f"/images/{image_id}"), 401, "unauthorized")
    deleted = client.delete(f"/images/{image_id}", headers={"X-API-Key": "segreto"})
    assert deleted.status_code == 200


def test_protected_reads(make_client: MakeClient, jpegs: list[bytes]) -> None:
    client = make_client(api_key="segreto", protect_reads=True)
    key = {"X-API-Key": "segreto"}
    assert_error(index_json(client, jpegs[:1]), 401, "unauthorized")
    items = {"images": [{"image": b64(jpegs[0])}]}
    image_id = client.post("/images", json=items, headers=key).json()["images"][0]["id"]
    assert_error(client.get(f"/images/{image_id}"), 401, "unauthorized")
    assert_error(client.get(f"/images/{image_id}/thumbnail"), 401, "unauthorized")
    assert_error(client.get(f"/images/{image_id}/original"), 401, "unauthorized")
    assert client.get(f"/images/{image_id}", headers=key).status_code == 200
    assert client.get(f"/images/{image_id}/original", headers=key).content == jpegs[0]


def test_thumbnails_carry_none_of_the_uploads_metadata(
    client: TestClient, jpegs: list[bytes]
) -> None:
    """The uploader's JPEG comment, EXIF (here a GPS position) and ICC profile stay private."""
    photo = Image.open(io.BytesIO(jpegs[0]))
    exif = Image.Exif()
    exif[0x010E] = "casa di Mario, via Roma 1"  # ImageDescription
    exif[0x8825] = {1: "N", 2: (45.0, 28.0, 0.0)}  # GPSInfo
    buffer = io.BytesIO()
    photo.save(
        buffer, format="JPEG", comment=b"segreto: nota privata", exif=exif, icc_profile=b"\0" * 128
    )
    response = index_json(client, [buffer.getvalue()])
    assert response.status_code == 200, response.text
    image_id = response.json()["images"][0]["id"]
    thumbnail = client.get(f"/images/{image_id}/thumbnail")
    assert thumbnail.headers["x-content-type-options"] == "nosniff"
    data = thumbnail.content
    for secret in (b"segreto", b"Mario", b"Exif", b"ICC_PROFILE"):
        assert secret not in data
    kept = Image.open(io.BytesIO(data))
    assert not {"comment", "exif", "icc_profile"} & set(kept.info)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_originals_are_kept_served_and_deleted(
    client: TestClient, jpegs: list[bytes], tmp_path
) -> None:
    png = _png()
    ids = [x["id"] for x in index_json(client, [jpegs[0], png]).json()["images"]]
    for image_id, data, media in zip(
        ids, [jpegs[0], png], ["image/jpeg", "image/png"], strict=True
    ):
        # Sniffed from the bytes (the upload was named .jpg either way).
        original = client.get(f"/images/{image_id}/original")
        assert original.status_code == 200, original.text
        assert original.content == data and original.headers["content-type"] == media
        assert original.headers["x-content-type-options"] == "nosniff"
        assert (tmp_path / "originals" / image_id[:2] / image_id).read_bytes() == data
    assert client.delete(f"/images/{ids[0]}").status_code == 200
    assert not (tmp_path / "originals" / ids[0][:2] / ids[0]).exists()
    assert_error(client.get(f"/images/{ids[0]}/original"), 404, "not_found")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(client.get(f"/images/{unknown}/original"), 404, "not_found")


def test_images_indexed_before_originals_were_kept(
    client: TestClient, jpegs: list[bytes], tmp_path
) -> None:
    image_id = index_json(client, jpegs[:1]).json()["images"][0]["id"]
    (tmp_path / "originals" / image_id[:2] / image_id).unlink()  # as an older gallery
    response = client.get(f"/images/{image_id}/original")
    assert_error(response, 409, "original_missing", "indexed before the service kept originals")
    assert "re-index" in response.json()["error"]["message"].lower()
    # Indexing the same bytes again keeps the original, without embedding it twice.
    again = index_json(client, jpegs[:1]).json()
    assert again["created"] == 0
    assert client.get(f"/images/{image_id}/original").content == jpegs[0]


def test_a_damaged_original_is_409_and_a_failing_store_503(
    client: TestClient, jpegs: list[bytes], tmp_path
) -> None:
    image_id = index_json(client, jpegs[:1]).json()["images"][0]["id"]
    (tmp_path / "originals" / image_id[:2] / image_id).write_bytes(b"not the photo")
    assert_error(client.get(f"/images/{image_id}/original"), 409, "original_corrupt", "damaged")
    services = client.app.state.services  # type: ignore[attr-defined]
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    services.originals.root = blocker  # a volume gone read-only, in effect
    response = index_json(client, jpegs[1:2])
    assert_error(response, 503, "originals_unavailable", "retry later")
    assert "blocker" not in response.text  # no paths leak
    # Nothing was indexed without its original.
    assert services.store.info("images").count == 1
